"""The endpoint manager's parts that need no server: templates, the env files,
state-dir checks and the refusal to touch a directory it did not make."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml

from support import endpoints
from support.endpoints import EndpointError

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHUvMKSNtGfTMnhqdKD+ElI9SwvXKo6JYTEzD9fBbWhP"


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def child():
    """A process to name in pidfiles; killed at the end whatever happens."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- templates -----------------------------------------------------------------------------


def test_sshd_template_renders_every_placeholder():
    text = endpoints.render_template(endpoints.SSHD_TEMPLATE, {"state": "/run/ep", "port": 2222, "git_user": "git"})
    lines = text.splitlines()
    assert "ListenAddress 127.0.0.1" in lines
    assert "Port 2222" in lines
    assert "HostKey /run/ep/sshd/ssh_host_ed25519_key" in lines
    assert "PidFile /run/ep/sshd/sshd.pid" in lines
    assert "AllowUsers git" in lines
    assert "AuthorizedKeysFile none" in lines
    assert "AuthorizedKeysCommand /run/ep/gitshell/gitlab-shell-authorized-keys-check git %u %k" in lines
    assert "AuthorizedKeysCommandUser git" in lines
    assert "PasswordAuthentication no" in lines and "UsePAM no" in lines
    assert not re.search(r"\$\{?(state|port|git_user)\b", text)
    # Only comments and "Keyword value" lines: nothing a value could have split.
    for line in lines:
        assert line.startswith("#") or re.fullmatch(r"[A-Za-z0-9]+ \S.*", line), line


def test_registry_template_is_yaml_with_token_auth():
    text = endpoints.render_template(endpoints.REGISTRY_TEMPLATE, {
        "state": "/run/ep", "port": 5123, "http_secret": "s3cr3t", "gitlab_url": "http://127.0.0.1:8080"})
    config = yaml.safe_load(text)
    assert config["http"] == {"addr": "127.0.0.1:5123", "secret": "s3cr3t"}
    assert config["storage"]["filesystem"]["rootdirectory"] == "/run/ep/registry-data"
    assert config["auth"] == {"token": {"realm": "http://127.0.0.1:8080/jwt/auth", "service": "container_registry",
                                        "issuer": "gitlab-issuer", "rootcertbundle": "/run/ep/registry.crt"}}
    assert str(config["version"]) == "0.1"


@pytest.mark.parametrize("name", [endpoints.SSHD_TEMPLATE, endpoints.REGISTRY_TEMPLATE])
def test_template_missing_value_raises(name):
    with pytest.raises(KeyError):
        endpoints.render_template(name, {"state": "/run/ep"})


def test_templates_are_files_under_fixtures():
    for name in (endpoints.SSHD_TEMPLATE, endpoints.REGISTRY_TEMPLATE):
        assert os.path.isfile(os.path.join(endpoints.TESTS_DIR, "fixtures", name))


# --- the env files ---------------------------------------------------------------------------


def test_env_values_order_and_optional_parts():
    assert list(endpoints.env_values("http://u", "t")) == ["GITLAB_URL", "GITLAB_TOKEN"]
    full = endpoints.env_values("http://u", "t", 2222, HOST_KEY, "/run/ep/shell_secret", "127.0.0.1:5000")
    assert list(full) == ["GITLAB_URL", "GITLAB_TOKEN", "GITLAB_SSH_HOST", "GITLAB_SSH_PORT", "GITLAB_SSH_HOST_KEY",
                          "GITLAB_SHELL_SECRET_FILE", "GITLAB_REGISTRY"]
    assert full["GITLAB_SSH_HOST"] == "127.0.0.1" and full["GITLAB_SSH_PORT"] == 2222
    assert list(endpoints.env_values("http://u", "t", registry="127.0.0.1:5000"))[-1] == "GITLAB_REGISTRY"


def test_write_env_is_0600_even_with_open_umask_and_over_an_old_file(tmp_path):
    (tmp_path / "env").write_text("old\n")
    (tmp_path / "env").chmod(0o644)
    env = endpoints.env_values("http://127.0.0.1:1234", "glpat-x", 2222, HOST_KEY, "/run/ep/shell_secret",
                               "127.0.0.1:5000")
    old_umask = os.umask(0)
    try:
        endpoints.write_env(str(tmp_path), env)
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "env") == 0o600
    assert _mode(tmp_path / "env.json") == 0o600
    assert json.loads((tmp_path / "env.json").read_text()) == env


def test_env_file_is_shell_sourceable(tmp_path):
    env = endpoints.env_values("http://127.0.0.1:1234", "glpat-x", 2222, HOST_KEY, "/run/ep/shell_secret")
    endpoints.write_env(str(tmp_path), env)
    text = (tmp_path / "env").read_text()
    assert "GITLAB_URL=http://127.0.0.1:1234\n" in text          # plain values unquoted
    assert f"GITLAB_SSH_HOST_KEY='{HOST_KEY}'\n" in text          # quoted only where needed
    script = '. "$1"; printf "%s|%s|%s" "$GITLAB_TOKEN" "$GITLAB_SSH_PORT" "$GITLAB_SSH_HOST_KEY"'
    out = subprocess.run(["bash", "-c", script, "bash", str(tmp_path / "env")], capture_output=True, text=True,
                         check=True, env={"PATH": os.environ["PATH"]}).stdout
    assert out == f"glpat-x|2222|{HOST_KEY}"


def test_write_file_does_not_follow_symlinks(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    (tmp_path / "env").symlink_to(target)
    with pytest.raises(OSError):
        endpoints.write_file(str(tmp_path / "env"), "secret\n", 0o600)
    assert target.read_text() == "keep\n"


# --- state dirs --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("relative/dir", "absolute"), ("/", "must not be /"), ("//", "must not be /"),
    ("/run/with space", "whitespace"), ("/run/a\nPort 22", "whitespace"), ("/run/$HOME", "'\\$'"),
])
def test_state_path_rejects(text, message):
    with pytest.raises(EndpointError, match=message):
        endpoints.state_path(text)


def test_state_path_strips_trailing_slash():
    assert endpoints.state_path("/run/runnercreds-x/") == "/run/runnercreds-x"


def test_safe_path_refuses_tmp_and_foreign_owners(tmp_path):
    endpoints.check_safe_path("/")                  # root-owned, 0755
    with pytest.raises(EndpointError, match="group/world-writable|not owned by root"):
        endpoints.check_safe_path(str(tmp_path))    # /tmp is 1777 (and may belong to the user)
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o755)
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)
    with pytest.raises(EndpointError, match=f"{foreign} is not owned by root"):
        endpoints.check_safe_path(str(foreign))


def test_safe_path_refuses_group_writable_dir(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o775)
    expected = "is group/world-writable" if os.geteuid() == 0 else "is not owned by root"
    with pytest.raises(EndpointError, match=f"{loose} {expected}"):
        endpoints.check_safe_path(str(loose))


def test_under_tmp():
    assert endpoints.under_tmp("/tmp/x") and endpoints.under_tmp("/var/tmp/x/y") and endpoints.under_tmp("/tmp")
    assert not endpoints.under_tmp("/run/x") and not endpoints.under_tmp("/tmpfoo")


def test_ssh_state_dir_under_tmp_is_refused_before_anything_is_made(tmp_path):
    state = tmp_path / "ep"
    with pytest.raises(EndpointError, match="under /tmp|must run as root"):
        endpoints.Endpoints(str(state), ssh=True, python=sys.executable).start()
    assert not state.exists()


# --- the marker: stop and start touch only their own dirs -------------------------------------


def test_stop_refuses_a_foreign_dir_and_its_pidfiles(tmp_path, child):
    (tmp_path / "server.pid").write_text(f"{child.pid}\n")
    (tmp_path / "data.txt").write_text("someone's data\n")
    with pytest.raises(EndpointError, match="was not created by endpoints.py; not touching it"):
        endpoints.stop(str(tmp_path))
    assert _alive(child.pid) and child.poll() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt", "server.pid"]


def test_cli_stop_of_a_foreign_dir_fails(tmp_path, capsys):
    (tmp_path / "keep").write_text("x")
    assert endpoints.main(["stop", str(tmp_path)]) == 1
    assert "not touching it" in capsys.readouterr().err
    assert (tmp_path / "keep").exists()


def test_start_refuses_an_existing_foreign_dir(tmp_path):
    (tmp_path / "keep").write_text("x")
    with pytest.raises(EndpointError, match="exists and is not an endpoint state dir"):
        endpoints.Endpoints(str(tmp_path), python=sys.executable).start()
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_stop_of_a_missing_dir_is_a_no_op(tmp_path):
    endpoints.stop(str(tmp_path / "never-made"))


@pytest.mark.parametrize("marker", [endpoints.MARKER, *endpoints.OLD_MARKERS])
def test_stop_kills_what_the_pidfiles_name_and_removes_the_dir(tmp_path, child, marker, monkeypatch):
    monkeypatch.delenv("KEEP_ENDPOINT_LOGS", raising=False)
    state = tmp_path / "ep"
    (state / "sshd").mkdir(parents=True)
    (state / marker).write_text("")
    (state / "server.pid").write_text(f"{child.pid}\n")
    endpoints.stop(str(state))
    assert child.poll() is not None
    assert not state.exists()


def test_keep_endpoint_logs_keeps_logs_not_secrets(tmp_path, child, monkeypatch, capsys):
    monkeypatch.setenv("KEEP_ENDPOINT_LOGS", "1")
    state = tmp_path / "ep"
    (state / "sshd").mkdir(parents=True)
    (state / endpoints.MARKER).write_text("")
    (state / "registry.pid").write_text(f"{child.pid}\n")
    for name in endpoints.SECRET_FILES + ("server.log", "registry.log", "sshd/sshd.log"):
        (state / name).write_text("x\n")
    endpoints.stop(str(state))
    assert child.poll() is not None
    left = sorted(str(p.relative_to(state)) for p in state.rglob("*") if p.is_file())
    assert left == [endpoints.MARKER, "registry.log", "server.log", "sshd/sshd.log"]
    assert "logs kept in" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["abc\n", "12 13\n", "0\n", "1\n", "-5\n"])
def test_stop_refuses_a_pidfile_without_a_pid(tmp_path, content):
    (tmp_path / endpoints.MARKER).write_text("")
    (tmp_path / "server.pid").write_text(content)
    with pytest.raises(EndpointError, match="does not hold a pid"):
        endpoints.stop(str(tmp_path))
    assert (tmp_path / endpoints.MARKER).exists()


def test_cli_env_prints_the_env_file(tmp_path, capsys):
    endpoints.write_env(str(tmp_path), endpoints.env_values("http://127.0.0.1:1", "tok"))
    assert endpoints.main(["env", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "GITLAB_URL=http://127.0.0.1:1\nGITLAB_TOKEN=tok\n"


def test_cli_usage_errors_exit_2():
    for argv in ([], ["start"], ["bogus", "/run/x"], ["push-image", "/run/x"]):
        with pytest.raises(SystemExit) as exc:
            endpoints.main(argv)
        assert exc.value.code == 2
