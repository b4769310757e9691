"""Everything a request handler can reach: store, clock, repositories,
and the seed to go back to on reset."""

from __future__ import annotations

from . import seed as seed_mod
from .clock import Clock
from .gitrepo import GitRepos
from .store import Store


class State:
    def __init__(self, db_path: str | None, data_dir: str, seed: dict, admin_token: str) -> None:
        self.store = Store(db_path)
        self.clock = Clock()
        self.repos = GitRepos(data_dir)
        self.seed = seed
        self.admin_token = admin_token
        # GitLab Shell's shared secret (/internal/* routes); None: they answer 401.
        self.shell_secret: str | None = None

    def settings(self) -> dict:
        return self.store.settings()

    def bootstrap(self) -> None:
        """Seed an empty database; an existing ``--db`` file is kept as is."""
        with self.store.tx():
            if self.store.one("SELECT COUNT(*) AS n FROM users")["n"] == 0:
                seed_mod.apply(self, self.seed, self.admin_token)
            else:
                self._ensure_admin_token()

    def reset(self) -> None:
        with self.store.tx():
            self.clock.set_offset(0)
            self.store.wipe()
            self.repos.wipe()
            seed_mod.apply(self, self.seed, self.admin_token)

    def _ensure_admin_token(self) -> None:
        from . import services
        store = self.store
        root = store.user_by_username("root")
        if not root:
            root = services.create_user(self, "root", "Administrator", "admin@example.com", True)
        if not store.one("SELECT 1 FROM personal_access_tokens WHERE token = ?", (self.admin_token,)):
            services.create_pat(self, root["id"], "admin-token", ["api"], None, token=self.admin_token)
