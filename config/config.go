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
	DatabaseURL string `yaml:"database_url"`
	// RedisURL is redis://… or rediss://…; empty starts the in-process live store.
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
	Auth     Auth    `yaml:"auth"`
	Workers  Workers `yaml:"workers"`
}

// Log configures the structured log written to stderr.
type Log struct {
	Level  slog.Level `yaml:"level"`  // debug, info, warn, error
	Format string     `yaml:"format"` // text or json
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
}

// Auth configures sessions.
type Auth struct {
	SessionTTL  time.Duration `yaml:"session_ttl"`
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SecureCookies marks session cookies Secure; turn it on behind HTTPS.
	SecureCookies bool `yaml:"secure_cookies"`
}

// Workers configures background workers.
type Workers struct {
	OverdueInterval time.Duration `yaml:"overdue_interval"`
}

// DefaultDataDir is where rexian keeps its files unless told otherwise.
const DefaultDataDir = "./data"

// Default returns the configuration rexian runs with when nothing is set: everything
// embedded, in ./data, on loopback.
func Default() Config {
	return Config{
		DataDir:  DefaultDataDir,
		Addr:     "127.0.0.1:8080",
		TimeZone: "Asia/Shanghai",
		Log:      Log{Level: slog.LevelInfo, Format: "text"},
		Tickets: Tickets{
			HandleClockFrom:     ClockFromDispatch,
			WorkHours:           "08:30-12:00,14:30-18:00",
			AttachmentMaxBytes:  10 << 20,
			DuplicateWindowDays: 7,
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
			SessionTTL:  12 * time.Hour,
			IdleTimeout: 2 * time.Hour,
		},
		Workers: Workers{OverdueInterval: time.Minute},
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
