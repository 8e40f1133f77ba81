// Package config holds rexian's configuration: one Config value, built once in main from
// defaults, an optional YAML file, REXIAN_* environment variables and command-line flags
// (each overriding the one before), validated, and then passed to whatever needs it.
// There is no global configuration.
//
// Adding a key is one struct field with a yaml tag, its default in Default and, where it
// can be wrong, a check in Validate. The environment variable follows from the YAML path
// (tickets.handle_clock_from → REXIAN_TICKETS_HANDLE_CLOCK_FROM) without further code, and
// a field tagged secret:"true" is masked by Masked. Supported field types: string, bool,
// int, int64, float64, time.Duration, []string (comma-separated in the environment), nested
// structs, and any type implementing encoding.TextUnmarshaler.
package config

import (
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	// The city's zone must load on machines without a system zoneinfo database (minimal
	// containers), so the validation below never depends on the host.
	_ "time/tzdata"

	"github.com/rexian/rexian/database"
)

// Config is the whole of rexian's configuration.
type Config struct {
	// DataDir holds the SQLite file (embedded default), attachments and voice messages.
	DataDir string `yaml:"data_dir"`
	// Addr is the HTTP listen address; port 0 picks a free port.
	Addr string `yaml:"addr"`
	// DatabaseURL is postgres://… or sqlite://PATH; empty means a SQLite file in DataDir.
	// For a primary/standby pair list both hosts with target_session_attrs=read-write
	// (postgres://u:p@db1:5432,db2:5432/rexian?target_session_attrs=read-write): every
	// new connection goes to whichever of them accepts writes.
	DatabaseURL string `yaml:"database_url"`
	// DatabaseReadURL, when set (PostgreSQL only), is where the supervisors' figures and
	// the spreadsheet exports read: a standby, so that a year's bulletin does not compete
	// with registering tickets. Empty reads from database_url.
	DatabaseReadURL string `yaml:"database_read_url"`
	// RedisURL is redis://… or rediss://…, or redis-sentinel://HOST:26379,…/MASTER for a
	// master found through Redis Sentinel; empty starts the in-process live store.
	RedisURL string `yaml:"redis_url"`
	// PublicURL is how citizens and integrators reach this instance (links in SMS and mail).
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies whose
	// X-Forwarded-For is believed. Empty trusts none, so a client cannot pose as another
	// address to the login limiter by sending the header itself.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TimeZone is the city's zone: deadlines, working hours and reports use it.
	TimeZone string  `yaml:"time_zone"`
	Log      Log     `yaml:"log"`
	Tickets  Tickets `yaml:"tickets"`
	// IdempotencyTTL is how long the answer to a POST with an Idempotency-Key is kept.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	Auth           Auth          `yaml:"auth"`
	Workers        Workers       `yaml:"workers"`
	// Audit is the security audit log: how long it is kept and where it is shipped.
	Audit Audit `yaml:"audit"`
	// PersonalData is how citizens' personal data is kept: encrypted at rest, and for how long.
	PersonalData PersonalData `yaml:"personal_data"`
	SMS          SMS          `yaml:"sms"`
	// Callback is the satisfaction surveys (回访) of completed tickets.
	Callback Callback `yaml:"callback"`
	// Dashboards is the supervisors' card rules.
	Dashboards Dashboards `yaml:"dashboards"`
	// Intake channels: QQ (OneBot v11), the public web form, Open311 GeoReport v2.
	QQ      QQ      `yaml:"qq"`
	WebForm WebForm `yaml:"web_form"`
	Open311 Open311 `yaml:"open311"`
	// Mailbox is the mayor's mailbox (市长信箱): letters in over IMAP, replies out by SMTP.
	Mailbox Mailbox `yaml:"mailbox"`
	// ARI connects the hotline controller to Asterisk; IVR is the telephone set-up.
	ARI ARI `yaml:"ari"`
	IVR IVR `yaml:"ivr"`
}

// Log configures the structured log written to stderr.
type Log struct {
	Level  slog.Level `yaml:"level"`  // debug, info, warn, error
	Format string     `yaml:"format"` // text or json
	// SlowQuery is how long a database statement runs before it is logged as slow (its
	// SQL with placeholders, never its values).
	SlowQuery time.Duration `yaml:"slow_query"`
}

// Handle-clock starts: cities differ on whether a department's handling time runs from
// dispatch (派单) or from sign-for (签收).
const (
	ClockFromDispatch = "dispatch"
	ClockFromSign     = "sign"
)

// Tickets configures the ticket workflow.
type Tickets struct {
	HandleClockFrom string `yaml:"handle_clock_from"`
	// WorkHours are the working periods of a working day, "HH:MM-HH:MM,…" in TimeZone.
	WorkHours           string `yaml:"work_hours"`
	AttachmentMaxBytes  int64  `yaml:"attachment_max_bytes"`
	DuplicateWindowDays int    `yaml:"duplicate_window_days"`
	// RefusalReasons are the reasons a ticket may be refused (不予受理), each
	// "code=wording": the code is stored, the wording is what the citizen is told.
	RefusalReasons []string `yaml:"refusal_reasons"`
	// ExtensionMax is how far beyond the current deadline an extension (延期) may reach, a
	// limit such as "30wd" on the working calendar.
	ExtensionMax string `yaml:"extension_max"`
}

// Auth configures sessions.
type Auth struct {
	SessionTTL  time.Duration `yaml:"session_ttl"`
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SecureCookies marks session cookies Secure; turn it on behind HTTPS.
	SecureCookies bool `yaml:"secure_cookies"`
	// TwoFactorRoles log in with a second factor (TOTP); their users set it up at their
	// first login. Empty: nobody is asked for one.
	TwoFactorRoles []string `yaml:"two_factor_roles"`
	// TOTPKeyFile holds the key that seals the second factors' secrets in the database;
	// empty means totp.key in data_dir, made (32 random bytes, mode 0600) when missing.
	// Keep it out of database backups, and back it up beside them.
	TOTPKeyFile string `yaml:"totp_key_file"`
}

// Audit configures the security audit log (安全审计).
type Audit struct {
	// Retention is how long records are kept; older ones are pruned hourly, the chain
	// anchored at the last one removed. Default 180 days, the legal minimum for network logs.
	Retention time.Duration `yaml:"retention"`
	// File, when set, receives every record as one JSON line (for a SIEM's collector).
	File string `yaml:"file"`
	// SyslogAddress, when set (host:port, or a socket path for unix), receives every
	// record as a JSON syslog message, facility authpriv, over SyslogNetwork (udp, tcp or
	// unix; default udp).
	SyslogAddress string `yaml:"syslog_address"`
	SyslogNetwork string `yaml:"syslog_network"`
	SyslogTag     string `yaml:"syslog_tag"`
	// ChainHash is the algorithm that links new records of this log and new events of
	// every ticket's timeline: sha256 (the default) or sm3 (GB/T 32905, for the
	// commercial-cryptography assessment). It may be changed at any time: each link names
	// its algorithm, so chains made before still verify.
	ChainHash string `yaml:"chain_hash"`
}

// PersonalData configures citizens' personal data at rest (package pii). With no keys,
// it is stored as it is: the embedded demo needs no set-up.
type PersonalData struct {
	// KeysFile holds the SM4 keys that seal phone numbers, names and e-mail addresses and
	// the SM3-HMAC keys of the phone number's blind index, one per line ("key ID HEX",
	// "index ID HEX"; `rexian keys new` writes a pair); the last of each kind is current.
	// Keys are never kept in the database.
	KeysFile string `yaml:"keys_file"`
	// Keys are more keys in the same form, ";" between them, usually from the environment
	// (REXIAN_PERSONAL_DATA_KEYS); they come after the file's.
	Keys string `yaml:"keys" secret:"true"`
	// RetentionYears: the personal data of tickets closed longer ago is erased, hourly,
	// the tickets kept for the statistics. 0 (the default) keeps it: the period is the
	// city's archive rule to set.
	RetentionYears int `yaml:"retention_years"`
}

// Workers configures background workers.
type Workers struct {
	OverdueInterval time.Duration `yaml:"overdue_interval"`
}

// SMS configures the outbox and its gateway. With no kannel_url the outbox still accepts
// and stores messages; they wait, visible, until a gateway is configured.
type SMS struct {
	// KannelURL is smsbox's base URL (http://127.0.0.1:13013); empty for no gateway.
	KannelURL      string `yaml:"kannel_url"`
	KannelUser     string `yaml:"kannel_user"`
	KannelPassword string `yaml:"kannel_password" secret:"true"`
	// KannelStatusURL is bearerbox's status page with its admin password
	// (http://127.0.0.1:13000/status.txt?password=…), which rexian doctor reads; empty
	// to skip that check.
	KannelStatusURL string `yaml:"kannel_status_url" secret:"true"`
	// CallbackSecret authenticates Kannel's delivery-report and inbound callbacks; the
	// callback URLs are built from public_url.
	CallbackSecret string `yaml:"callback_secret" secret:"true"`
	// Sender is the number or name messages come from (Kannel's from); empty leaves it to
	// the SMS centre.
	Sender string `yaml:"sender"`
	// Signature is the sender signature every message starts with (【…】).
	Signature string `yaml:"signature"`
	// QuietHours is "HH:MM-HH:MM" in time_zone (may wrap midnight); a message of a kind in
	// QuietKinds that falls due inside it waits for the end. Empty for none.
	QuietHours string   `yaml:"quiet_hours"`
	QuietKinds []string `yaml:"quiet_kinds"`
	// MaxParts is the most parts one message may have.
	MaxParts int `yaml:"max_parts"`
	// RatePerSecond is the parts per second all instances together submit to the gateway.
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Concurrency is how many parts one instance submits at once; BatchSize how many
	// messages it claims per database round trip.
	Concurrency int `yaml:"concurrency"`
	BatchSize   int `yaml:"batch_size"`
	// Expiry is how long a message may wait for a gateway before it is given up (expired).
	Expiry time.Duration `yaml:"expiry"`
	// Lease is how long a claimed message stays with the instance that claimed it; a
	// message whose lease ran out while submitting is reconciled.
	Lease time.Duration `yaml:"lease"`
	// ReconcileGrace is how long reconciling waits for a delivery report that proves an
	// interrupted submission went out before it sends the message again.
	ReconcileGrace time.Duration `yaml:"reconcile_grace"`
	// ConversationWindow is how long further inbound messages from one number join the
	// ticket the first one opened.
	ConversationWindow time.Duration `yaml:"conversation_window"`
	// PollInterval is how often an idle sender looks for due messages.
	PollInterval time.Duration `yaml:"poll_interval"`
	// InboundCategory is the category code of tickets opened by an inbound SMS; the desk
	// re-files them.
	InboundCategory string `yaml:"inbound_category"`
}

// QQ configures the QQ channel through a OneBot v11 implementation. It is off unless
// enabled; events arrive by HTTP POST on /onebot/v11/events or by reverse WebSocket on
// /onebot/v11/ws.
type QQ struct {
	Enabled bool `yaml:"enabled"`
	// APIURL is the OneBot HTTP API's base URL (http://127.0.0.1:5700); empty to call the
	// API only over the reverse WebSocket.
	APIURL string `yaml:"api_url"`
	// AccessToken is OneBot's access_token: sent to its API and required from it on the
	// reverse WebSocket (and on event posts when no secret is set).
	AccessToken string `yaml:"access_token" secret:"true"`
	// Secret is OneBot's secret: event posts carry X-Signature, an HMAC-SHA1 with it.
	Secret string `yaml:"secret" secret:"true"`
	// ConversationTimeout is how long a half-told report waits for the next message.
	ConversationTimeout time.Duration `yaml:"conversation_timeout"`
	// ImageMaxBytes bounds an image fetched from a message.
	ImageMaxBytes int64 `yaml:"image_max_bytes"`
	// ReplyInterval is how often completed QQ tickets are looked for to tell the result.
	ReplyInterval time.Duration `yaml:"reply_interval"`
	// DefaultCategory is the category code QQ reports are registered under; the desk
	// reclassifies them when it dispatches.
	DefaultCategory string `yaml:"default_category"`
}

// WebForm configures the public report form (/report) and status page (/status).
type WebForm struct {
	Enabled bool `yaml:"enabled"`
	// Secret signs form tokens; every instance must share it. Empty: a random key per
	// process, which suits a single instance.
	Secret string `yaml:"secret" secret:"true"`
	// MinFillTime is how long a form must have been open before it is accepted.
	MinFillTime time.Duration `yaml:"min_fill_time"`
	// SubmissionsPerHour and LookupFailuresPerHour are the per-address limits (the
	// look-up one sliding); LookupPairFailuresPerHour bounds one address's failed look-ups
	// of one ticket number. No limit applies to a number alone, so that a stranger cannot
	// lock the citizen out.
	SubmissionsPerHour        int   `yaml:"submissions_per_hour"`
	LookupFailuresPerHour     int   `yaml:"lookup_failures_per_hour"`
	LookupPairFailuresPerHour int   `yaml:"lookup_pair_failures_per_hour"`
	MaxPhotos                 int   `yaml:"max_photos"`
	PhotoMaxBytes             int64 `yaml:"photo_max_bytes"`
	// DefaultCategory is the category code of a report sent without one; empty makes the
	// citizen choose.
	DefaultCategory string `yaml:"default_category"`
}

// Open311 configures the GeoReport v2 API under /open311/v2/.
type Open311 struct {
	Enabled bool `yaml:"enabled"`
	// JurisdictionID is the jurisdiction_id clients may send; empty accepts any.
	JurisdictionID string `yaml:"jurisdiction_id"`
	// APIKeys are keys accepted as api_key besides integrator tokens.
	APIKeys []string `yaml:"api_keys" secret:"true"`
	// PublicChannels are the channels whose tickets GET requests lists; tickets from the
	// phone or the mailbox are not published to the world by default.
	PublicChannels []string `yaml:"public_channels"`
}

// DefaultDataDir is where rexian keeps its files unless told otherwise.
const DefaultDataDir = "./data"

// Default returns the configuration rexian runs with when nothing is set: everything
// embedded, in ./data, on loopback.
func Default() Config {
	return Config{
		DataDir:        DefaultDataDir,
		Addr:           "127.0.0.1:8080",
		TimeZone:       "Asia/Shanghai",
		IdempotencyTTL: 24 * time.Hour,
		Log:            Log{Level: slog.LevelInfo, Format: "text", SlowQuery: 500 * time.Millisecond},
		Tickets: Tickets{
			HandleClockFrom:     ClockFromDispatch,
			WorkHours:           "08:30-12:00,14:30-18:00",
			AttachmentMaxBytes:  10 << 20,
			DuplicateWindowDays: 7,
			ExtensionMax:        "30wd",
			// The same list as the tickets package's built-in one (a test keeps them equal).
			RefusalReasons: []string{
				"outside_remit=不属于本市管辖范围",
				"litigation=已进入诉讼、仲裁或行政复议程序",
				"secrets=涉及国家秘密、商业秘密或个人隐私",
				"petition_channel=属于信访事项，应通过信访渠道反映",
				"unclear=诉求内容不明确且无法联系诉求人",
				"already_answered=重复诉求，已按程序答复",
				"unlawful=恶意骚扰或诉求违反法律法规",
			},
		},
		Auth: Auth{
			SessionTTL:     12 * time.Hour,
			IdleTimeout:    2 * time.Hour,
			TwoFactorRoles: []string{"admin", "supervisor"},
		},
		Workers: Workers{OverdueInterval: time.Minute},
		Audit:   Audit{Retention: 180 * 24 * time.Hour, SyslogNetwork: "udp", SyslogTag: "rexian-audit"},
		Mailbox: DefaultMailbox(),
		ARI:     DefaultARI(),
		IVR:     DefaultIVR(),
		QQ:      QQ{ConversationTimeout: 30 * time.Minute, ImageMaxBytes: 5 << 20, ReplyInterval: time.Minute, DefaultCategory: "TS"},
		WebForm: WebForm{
			Enabled: true, MinFillTime: 3 * time.Second, SubmissionsPerHour: 5, LookupFailuresPerHour: 10, LookupPairFailuresPerHour: 5,
			MaxPhotos: 3, PhotoMaxBytes: 5 << 20,
		},
		Open311:    Open311{Enabled: true, PublicChannels: []string{"open311"}},
		Callback:   DefaultCallback(),
		Dashboards: DefaultDashboards(),
		SMS: SMS{
			Signature:          "【12345市民热线】",
			QuietHours:         "21:00-08:00",
			QuietKinds:         []string{"survey", "free_text"},
			MaxParts:           5,
			RatePerSecond:      100,
			Concurrency:        32,
			BatchSize:          200,
			Expiry:             24 * time.Hour,
			Lease:              time.Minute,
			ReconcileGrace:     2 * time.Minute,
			ConversationWindow: 2 * time.Hour,
			PollInterval:       time.Second,
			InboundCategory:    "ZX",
		},
	}
}

// fillDerived sets the defaults that depend on other keys, after every layer is applied,
// so that --data moves the SQLite file along with it.
func (c *Config) fillDerived() {
	if c.DatabaseURL == "" && c.DataDir != "" {
		c.DatabaseURL = database.DefaultURL(c.DataDir)
	}
}

// Location returns the city's time zone. It is valid after Validate.
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Mailbox configures the mayor's mailbox. Without imap_url no letters are read; without
// smtp_url no replies are sent. Both URLs carry the account's password.
type Mailbox struct {
	// IMAPURL is imaps://user:pass@host:993/INBOX, or imap+starttls://…:143/INBOX;
	// imap:// (no TLS) is accepted only to a loopback address.
	IMAPURL string `yaml:"imap_url" secret:"true"`
	// SMTPURL is smtp+starttls://user:pass@host:587, or smtps://…:465; smtp:// (no TLS)
	// is accepted only to a loopback address.
	SMTPURL string `yaml:"smtp_url" secret:"true"`
	// From is the address replies come from, e.g. "市长信箱 <mayor@city.gov.cn>"; empty
	// uses the SMTP user name when that is an address.
	From string `yaml:"from"`
	// Category is the category code letters are registered under until the desk
	// classifies them.
	Category string `yaml:"category"`
	// Folders letters are moved to once registered, when they could not be read whole,
	// and when they are auto-replies, bounces or list mail. Created when missing.
	ProcessedFolder string `yaml:"processed_folder"`
	FailedFolder    string `yaml:"failed_folder"`
	IgnoredFolder   string `yaml:"ignored_folder"`
	// PollInterval is how often the folder is looked at when the server has no IDLE, and
	// how soon a letter left for later is retried.
	PollInterval time.Duration `yaml:"poll_interval"`
	// ReplyInterval is how often the reply worker looks for receipts and results owed.
	ReplyInterval time.Duration `yaml:"reply_interval"`
	// ReplyWindow is how far back owed replies are caught up.
	ReplyWindow time.Duration `yaml:"reply_window"`
	// MaxLetterBytes: a larger letter is not downloaded; its ticket says so and the
	// letter goes to the failed folder.
	MaxLetterBytes int64 `yaml:"max_letter_bytes"`
	// MaxAttachments and MaxAttachmentsBytes bound the files kept from one letter (each
	// file is also held to tickets.attachment_max_bytes); the rest are listed in the
	// ticket's note.
	MaxAttachments      int   `yaml:"max_attachments"`
	MaxAttachmentsBytes int64 `yaml:"max_attachments_bytes"`
}

// DefaultMailbox is the mailbox's configuration when nothing is set: off.
func DefaultMailbox() Mailbox {
	return Mailbox{
		Category:            "ZX",
		ProcessedFolder:     "Processed",
		FailedFolder:        "Failed",
		IgnoredFolder:       "Ignored",
		PollInterval:        time.Minute,
		ReplyInterval:       30 * time.Second,
		ReplyWindow:         7 * 24 * time.Hour,
		MaxLetterBytes:      25 << 20,
		MaxAttachments:      10,
		MaxAttachmentsBytes: 25 << 20,
	}
}

func (m Mailbox) validate(bad func(path, format string, args ...any)) {
	checkURL(bad, "mailbox.imap_url", m.IMAPURL, true, "imaps", "imap+starttls", "imap+tls", "imap", "imap+plaintext")
	checkURL(bad, "mailbox.smtp_url", m.SMTPURL, true, "smtps", "smtp+starttls", "submission", "smtp")
	for path, raw := range map[string]string{"mailbox.imap_url": m.IMAPURL, "mailbox.smtp_url": m.SMTPURL} {
		u, err := url.Parse(raw)
		if raw == "" || err != nil {
			continue // reported above
		}
		if u.User == nil || u.User.Username() == "" {
			bad(path, "%q has no user name (scheme://user:password@host)", maskURL(raw))
		}
		if (u.Scheme == "imap" || u.Scheme == "imap+plaintext" || u.Scheme == "smtp") && !loopbackHost(u.Hostname()) {
			bad(path, "%q: %s:// sends the password in clear text and is accepted only to a loopback address; use TLS or STARTTLS", maskURL(raw), u.Scheme)
		}
	}
	if m.SMTPURL != "" && m.From == "" {
		if u, err := url.Parse(m.SMTPURL); err == nil && u.User != nil && !strings.Contains(u.User.Username(), "@") {
			bad("mailbox.from", "must be set when the SMTP user name (%q) is not an address", u.User.Username())
		}
	}
	if m.From != "" {
		if a, err := mail.ParseAddress(m.From); err != nil || !strings.Contains(a.Address, "@") {
			bad("mailbox.from", "%q is not an address such as 市长信箱 <mayor@city.gov.cn>", m.From)
		}
	}
	if m.IMAPURL != "" && strings.TrimSpace(m.Category) == "" {
		bad("mailbox.category", "must name the category letters are registered under")
	}
	folders := map[string]string{"mailbox.processed_folder": m.ProcessedFolder, "mailbox.failed_folder": m.FailedFolder, "mailbox.ignored_folder": m.IgnoredFolder}
	seen := map[string]bool{}
	for _, path := range []string{"mailbox.processed_folder", "mailbox.failed_folder", "mailbox.ignored_folder"} {
		f := strings.TrimSpace(folders[path])
		switch {
		case f == "":
			bad(path, "must not be empty")
		case strings.EqualFold(f, "INBOX"):
			bad(path, "must not be INBOX, where letters arrive")
		case seen[f]:
			bad(path, "%q is already used for another outcome", f)
		}
		seen[f] = true
	}
	if m.PollInterval < 10*time.Millisecond || m.PollInterval > time.Hour {
		bad("mailbox.poll_interval", "must be between 10ms and 1h, not %s", m.PollInterval)
	}
	if m.ReplyInterval < 10*time.Millisecond || m.ReplyInterval > time.Hour {
		bad("mailbox.reply_interval", "must be between 10ms and 1h, not %s", m.ReplyInterval)
	}
	if m.ReplyWindow < time.Minute {
		bad("mailbox.reply_window", "must be at least 1m, not %s", m.ReplyWindow)
	}
	if m.MaxLetterBytes < 1024 {
		bad("mailbox.max_letter_bytes", "must be at least 1024, not %d", m.MaxLetterBytes)
	}
	if m.MaxAttachments < 0 {
		bad("mailbox.max_attachments", "must not be negative, not %d", m.MaxAttachments)
	}
	if m.MaxAttachmentsBytes < 0 {
		bad("mailbox.max_attachments_bytes", "must not be negative, not %d", m.MaxAttachmentsBytes)
	}
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Callback configures the satisfaction surveys (回访). Surveys go out only inside Hours
// and never in sms.quiet_hours.
type Callback struct {
	// Delay is how long after completion a ticket is surveyed.
	Delay time.Duration `yaml:"delay"`
	// Hours is "HH:MM-HH:MM" in time_zone when citizens may be surveyed; empty for any time.
	Hours string `yaml:"hours"`
	// Sample is the share of completions surveyed (0..1); CategorySample overrides it per
	// category code as "CODE=rate" (a parent's rate applies to its children).
	Sample         float64  `yaml:"sample"`
	CategorySample []string `yaml:"category_sample"`
	// SMSWait: a mobile citizen who has not answered the SMS by then is called.
	SMSWait time.Duration `yaml:"sms_wait"`
	// AnswerWindow: a second SMS answer replaces the first, and free text after a 3 is
	// kept as the reason, within it.
	AnswerWindow time.Duration `yaml:"answer_window"`
	// ReplyExpiry: an SMS answer later than this after the survey SMS is not taken.
	ReplyExpiry time.Duration `yaml:"reply_expiry"`
	// MaxCallAttempts calls, CallRetry apart (moved into Hours), then the manual list.
	MaxCallAttempts int           `yaml:"max_call_attempts"`
	CallRetry       time.Duration `yaml:"call_retry"`
	// CallConcurrency is how many survey calls one instance makes at once.
	CallConcurrency int `yaml:"call_concurrency"`
	// Interval is how often the survey worker runs.
	Interval time.Duration `yaml:"interval"`
}

// DefaultCallback is the survey policy when nothing is set.
func DefaultCallback() Callback {
	return Callback{
		Delay: 2 * time.Hour, Hours: "09:00-20:00", Sample: 1, SMSWait: 24 * time.Hour, AnswerWindow: 2 * time.Hour,
		ReplyExpiry: 7 * 24 * time.Hour, MaxCallAttempts: 3, CallRetry: 6 * time.Hour, CallConcurrency: 4, Interval: 30 * time.Second,
	}
}

func (c Callback) validate(bad func(path, format string, args ...any)) {
	if c.Delay < 0 {
		bad("callback.delay", "must not be negative, not %s", c.Delay)
	}
	if _, _, err := ParseQuietHours(c.Hours); err != nil {
		bad("callback.hours", "%v", err)
	}
	if c.Sample < 0 || c.Sample > 1 {
		bad("callback.sample", "must be between 0 and 1, not %g", c.Sample)
	}
	for _, e := range c.CategorySample {
		code, v, ok := strings.Cut(e, "=")
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || strings.TrimSpace(code) == "" || err != nil || r < 0 || r > 1 {
			bad("callback.category_sample", "%q is not CODE=rate with a rate from 0 to 1 (e.g. ZX=0.2)", e)
		}
	}
	for path, d := range map[string]time.Duration{"callback.sms_wait": c.SMSWait, "callback.answer_window": c.AnswerWindow,
		"callback.reply_expiry": c.ReplyExpiry, "callback.call_retry": c.CallRetry} {
		if d < time.Minute {
			bad(path, "must be at least 1m, not %s", d)
		}
	}
	if c.MaxCallAttempts < 1 || c.MaxCallAttempts > 10 {
		bad("callback.max_call_attempts", "must be between 1 and 10, not %d", c.MaxCallAttempts)
	}
	if c.CallConcurrency < 1 {
		bad("callback.call_concurrency", "must be at least 1, not %d", c.CallConcurrency)
	}
	if c.Interval < 10*time.Millisecond || c.Interval > time.Hour {
		bad("callback.interval", "must be between 10ms and 1h, not %s", c.Interval)
	}
}
