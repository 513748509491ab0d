"""The people who run a shop's dashboard: users and their roles, sessions, invitations, password
hashing, and the audit log of what they did by hand (docs/dashboard.md). The dashboard's pages
(kasir.dashboard) are built on it; it sits low enough that alerts can find the owners to write to
(docs/architecture.md, "Layers")."""
