// Package auth says who is calling and what they may do: users with passwords and
// roles, console sessions, API tokens for machine clients, the gin middleware that turns
// either into a *Principal, and the admin endpoints that manage them.
//
// Two ways in, for two kinds of client:
//
//   - People use the consoles in a browser. They log in with a username and password and
//     get a session cookie (rexian_session: HttpOnly, SameSite=Lax, Secure behind TLS).
//     A session ends at logout, after SessionTTL (12h: one long shift) however busy, or
//     after IdleTimeout (2h) unused; a disabled user's sessions end at once. Because the
//     browser sends the cookie by itself, every unsafe request must also carry the
//     session's CSRF token in X-CSRF-Token, which only our own pages have read.
//   - Integrations (the online-approval system, Open311 clients, scrapers) send
//     "Authorization: Bearer rxn_…". Tokens have a role like users, never expire, and are
//     revoked by an administrator. No browser adds that header on its own, so bearer
//     requests need no CSRF token.
//
// What is stored, and how:
//
//   - Passwords as argon2id PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$hash). A
//     password is chosen by a person and can be guessed, so each guess at a stolen hash
//     must cost memory and time. Old hashes are redone with the current parameters at the
//     next successful login.
//   - Session tokens and API tokens as their SHA-256 only. They are 256 random bits, so a
//     fast hash is enough to make a copy of the database useless for taking over a
//     session or an integration; the secret exists only in the cookie or the client's
//     configuration. An API token's secret is shown once, when it is created.
//   - The CSRF token in plain text: alone it grants nothing.
//
// Failed logins are counted in the live store (Redis), so that every replica sees them,
// three ways: per username and client address (5 per 15 minutes, fixed windows), per
// address across usernames (20, sliding: one password sprayed over many accounts) and per
// username across addresses (10, sliding: one account guessed from many). When Redis is
// down the counts move into the process rather than switching the limits off. Past three
// failures in a row, per address and per username, each next try also waits longer (1s,
// doubling, up to 5 minutes: Backoff). Every
// failure and every refusal is written to the security audit log. Unknown users and
// wrong passwords get the same answer and take the same time.
//
// Roles in Options.TwoFactorRoles log in with a second factor (twofactor.go): a TOTP code
// after the password, or a one-use recovery code. The TOTP secret is sealed with
// AES-256-GCM under a key kept outside the database; recovery codes are kept as SHA-256
// hashes of 80 random bits. A user of such a role without a second factor gets a session
// that reaches only the set-up until it is done.
//
// Users with role department belong to one department (resolved from its code through a
// DepartmentResolver, since departments are another package's); every other role belongs
// to none.
package auth
