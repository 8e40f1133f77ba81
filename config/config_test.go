package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// writeFile writes a YAML file into a temporary folder and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rexian.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultIsValid(t *testing.T) {
	cfg, err := Load(Source{})
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	want := Default()
	want.DatabaseURL = "sqlite://data/rexian.db"
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		file  string // YAML; empty for no file
		env   []string
		flags []Setting
		check func(t *testing.T, cfg Config)
	}{
		{
			name: "file over defaults",
			file: "addr: 127.0.0.1:9000\ntickets:\n  handle_clock_from: sign\n",
			check: func(t *testing.T, cfg Config) {
				want := Default()
				want.Addr = "127.0.0.1:9000"
				want.Tickets.HandleClockFrom = ClockFromSign
				want.DatabaseURL = cfg.DatabaseURL
				if diff := cmp.Diff(want, cfg); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "env over file",
			file: "addr: 127.0.0.1:9000\nauth:\n  session_ttl: 8h\n",
			env:  []string{"REXIAN_ADDR=127.0.0.1:9100", "REXIAN_AUTH_SESSION_TTL=6h"},
			check: func(t *testing.T, cfg Config) {
				if cfg.Addr != "127.0.0.1:9100" || cfg.Auth.SessionTTL != 6*time.Hour {
					t.Errorf("addr %q session_ttl %s; want the environment's", cfg.Addr, cfg.Auth.SessionTTL)
				}
			},
		},
		{
			name:  "flag over env over file",
			file:  "log:\n  level: warn\n",
			env:   []string{"REXIAN_LOG_LEVEL=error"},
			flags: []Setting{{Path: "log.level", Value: "debug", Origin: "--log-level"}},
			check: func(t *testing.T, cfg Config) {
				if cfg.Log.Level != slog.LevelDebug {
					t.Errorf("log.level %s; want the flag's DEBUG", cfg.Log.Level)
				}
			},
		},
		{
			name: "file keeps keys it does not name, even in a named section",
			file: "tickets:\n  duplicate_window_days: 3\n",
			check: func(t *testing.T, cfg Config) {
				if cfg.Tickets.DuplicateWindowDays != 3 || cfg.Tickets.WorkHours != Default().Tickets.WorkHours {
					t.Errorf("tickets %+v", cfg.Tickets)
				}
			},
		},
		{
			name: "empty values in the file leave defaults",
			file: "# only comments\nworkers:\nredis_url: ~\n",
			check: func(t *testing.T, cfg Config) {
				if cfg.Workers != Default().Workers || cfg.RedisURL != "" {
					t.Errorf("workers %+v redis %q", cfg.Workers, cfg.RedisURL)
				}
			},
		},
		{
			name: "database url follows the final data dir",
			file: "data_dir: /srv/from-file\n",
			env:  []string{"REXIAN_DATA_DIR=/srv/from-env"},
			check: func(t *testing.T, cfg Config) {
				if cfg.DatabaseURL != "sqlite:///srv/from-env/rexian.db" {
					t.Errorf("database_url %q", cfg.DatabaseURL)
				}
			},
		},
		{
			name:  "explicit database url is kept when the data dir moves",
			env:   []string{"REXIAN_DATABASE_URL=postgres://rexian@db:5432/rexian"},
			flags: []Setting{{Path: "data_dir", Value: "/srv/x", Origin: "--data"}},
			check: func(t *testing.T, cfg Config) {
				if cfg.DatabaseURL != "postgres://rexian@db:5432/rexian" || cfg.DataDir != "/srv/x" {
					t.Errorf("database_url %q data_dir %q", cfg.DatabaseURL, cfg.DataDir)
				}
			},
		},
		{
			name: "list from a YAML sequence, then from a comma-separated variable",
			file: "tickets:\n  refusal_reasons:\n    - a=甲\n    - b=乙\n",
			env:  []string{"REXIAN_TICKETS_REFUSAL_REASONS=c=丙, d=丁 ,"},
			check: func(t *testing.T, cfg Config) {
				if diff := cmp.Diff([]string{"c=丙", "d=丁"}, cfg.Tickets.RefusalReasons); diff != "" {
					t.Errorf("refusal_reasons (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "list from a YAML sequence",
			file: "tickets:\n  refusal_reasons: [a=甲, \"b=乙, 丙\"]\n",
			check: func(t *testing.T, cfg Config) {
				if diff := cmp.Diff([]string{"a=甲", "b=乙, 丙"}, cfg.Tickets.RefusalReasons); diff != "" {
					t.Errorf("refusal_reasons (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "an empty variable empties a string",
			file: "redis_url: redis://127.0.0.1:6379/0\n",
			env:  []string{"REXIAN_REDIS_URL="},
			check: func(t *testing.T, cfg Config) {
				if cfg.RedisURL != "" {
					t.Errorf("redis_url %q; want empty (embedded)", cfg.RedisURL)
				}
			},
		},
		{
			name: "unrelated variables are ignored",
			env:  []string{"HOME=/home/op", "REXIAN_TEST_DB=postgres", "ADDR=nope"},
			check: func(t *testing.T, cfg Config) {
				if cfg.Addr != Default().Addr {
					t.Errorf("addr %q", cfg.Addr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{Environ: tt.env, Flags: tt.flags}
			if tt.file != "" {
				src.File = writeFile(t, tt.file)
			}
			cfg, err := Load(src)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestEnvNames(t *testing.T) {
	want := map[string]string{
		"data_dir":                      "REXIAN_DATA_DIR",
		"addr":                          "REXIAN_ADDR",
		"database_url":                  "REXIAN_DATABASE_URL",
		"redis_url":                     "REXIAN_REDIS_URL",
		"public_url":                    "REXIAN_PUBLIC_URL",
		"time_zone":                     "REXIAN_TIME_ZONE",
		"log.level":                     "REXIAN_LOG_LEVEL",
		"log.format":                    "REXIAN_LOG_FORMAT",
		"tickets.handle_clock_from":     "REXIAN_TICKETS_HANDLE_CLOCK_FROM",
		"tickets.work_hours":            "REXIAN_TICKETS_WORK_HOURS",
		"tickets.attachment_max_bytes":  "REXIAN_TICKETS_ATTACHMENT_MAX_BYTES",
		"tickets.duplicate_window_days": "REXIAN_TICKETS_DUPLICATE_WINDOW_DAYS",
		"tickets.refusal_reasons":       "REXIAN_TICKETS_REFUSAL_REASONS",
		"auth.session_ttl":              "REXIAN_AUTH_SESSION_TTL",
		"auth.idle_timeout":             "REXIAN_AUTH_IDLE_TIMEOUT",
		"auth.secure_cookies":           "REXIAN_AUTH_SECURE_COOKIES",
		"workers.overdue_interval":      "REXIAN_WORKERS_OVERDUE_INTERVAL",
	}
	got := map[string]string{}
	seen := map[string]string{}
	for _, k := range Keys() {
		got[k.Path] = k.Env
		if other, dup := seen[k.Env]; dup {
			t.Errorf("%s and %s both map to %s", other, k.Path, k.Env)
		}
		seen[k.Env] = k.Path
	}
	// Every key listed here must exist; keys added later only need a unique name.
	for path, env := range want {
		if got[path] != env {
			t.Errorf("key %s: env %q, want %q", path, got[path], env)
		}
	}
}

// TestEveryKeyFromEnv sets each key through its variable and checks that exactly that
// field changed, so a new key is covered without a new test.
func TestEveryKeyFromEnv(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "personal-data.keys")
	if err := os.WriteFile(keysFile, []byte("key k1 ffeeddccbbaa99887766554433221100\nindex k1 "+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	samples := map[reflect.Type]string{
		reflect.TypeFor[bool]():          "true",
		reflect.TypeFor[int]():           "3",
		reflect.TypeFor[int64]():         "12345",
		reflect.TypeFor[float64]():       "0.5",
		reflect.TypeFor[time.Duration](): "17m",
		reflect.TypeFor[[]string]():      "a,b",
		reflect.TypeFor[slog.Level]():    "warn",
	}
	perKey := map[string]string{ // values that validate where the type's sample would not
		"mailbox.imap_url":          "imaps://mayor%40city.gov.cn:pw@imap.city.gov.cn/INBOX",
		"mailbox.smtp_url":          "smtp+starttls://mayor%40city.gov.cn:pw@smtp.city.gov.cn:587",
		"mailbox.from":              "市长信箱 <mayor@city.gov.cn>",
		"mailbox.category":          "TS",
		"mailbox.processed_folder":  "已处理",
		"mailbox.failed_folder":     "待人工处理",
		"mailbox.ignored_folder":    "已忽略",
		"qq.api_url":                "http://127.0.0.1:5700",
		"qq.access_token":           "onebot-token",
		"qq.secret":                 "onebot-secret",
		"qq.default_category":       "QZ",
		"web_form.enabled":          "false",
		"web_form.secret":           "0123456789abcdef0123",
		"web_form.max_photos":       "5",
		"web_form.default_category": "TS",
		"open311.enabled":           "false",
		"open311.jurisdiction_id":   "ordos.gov.cn",
		"data_dir":                  "/srv/rexian",
		"addr":                      "127.0.0.1:9999",
		"database_url":              "postgres://u@h:5432/d",
		"database_read_url":         "postgres://u@standby:5432/d",
		"redis_url":                 "redis://h:6379/1",
		"public_url":                "https://12345.example.gov.cn",
		"time_zone":                 "Asia/Urumqi",
		"log.format":                "json",
		"tickets.handle_clock_from": "sign",
		"tickets.work_hours":        "09:00-17:00",
		"tickets.refusal_reasons":   "a=b,c=d",
		"tickets.extension_max":     "10wd",
		"trusted_proxies":           "127.0.0.1,10.0.0.0/8",
		"auth.session_ttl":          "24h", // must stay above the idle timeout
		"audit.retention":           "2160h",
		"audit.file":                "/var/log/rexian/audit.jsonl",
		"audit.syslog_network":      "tcp",
		"audit.syslog_address":      "127.0.0.1:514",
		"audit.syslog_tag":          "hotline-audit",
		"audit.chain_hash":          "sm3",
		"personal_data.keys_file":   keysFile,
		"personal_data.keys":        "key k2 00112233445566778899aabbccddeeff; index k2 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"auth.two_factor_roles":     "admin,operator",
		"auth.totp_key_file":        "/etc/rexian/totp.key",
		"sms.kannel_url":            "http://127.0.0.1:13013",
		"sms.kannel_user":           "rexian",
		"sms.kannel_password":       "pw",
		"sms.kannel_status_url":     "http://127.0.0.1:13000/status.txt?password=admin",
		"sms.callback_secret":       "0123456789abcdef0123",
		"sms.sender":                "12345",
		"sms.signature":             "【市长热线】",
		"sms.quiet_hours":           "22:00-07:30",
		"sms.quiet_kinds":           "survey",
		"sms.inbound_category":      "QZ",
		"ari.url":                   "http://10.0.0.5:8088,http://10.0.0.6:8088",
		"ari.user":                  "rexian",
		"ari.password":              "pw",
		"ari.app":                   "hotline2",
		"ari.lease_ttl":             "5s",
		"ari.softphone_ws":          "wss://pbx.example:8089/ws",
		"ivr.lines":                 `[{number: "12345", hotline: mayor, channels: 30}]`,
		"ivr.hotlines":              `[{code: mayor, name: 市长热线, mode: direct, welcome: welcome-mayor, queue: general}, {code: government, mode: direct, queue: general}]`,
		"ivr.menus":                 `[{name: main, prompt: menu-main, tries: 2, timeout: 4s, options: [{key: "1", action: status}], fallback: {action: voicemail}}]`,
		"ivr.queues":                `[{name: general, strategy: ring_all, ring_timeout: 10s, max_wait: 60s}, {name: complaint, strategy: longest_idle, ring_timeout: 5s, max_wait: 30s}, {name: consultation, strategy: longest_idle, ring_timeout: 5s, max_wait: 30s}]`,
		"ivr.prompts":               `{welcome-mayor: 您好, welcome-government: 您好, menu-main: 请按键, queue-enter: 请稍候}`,
		"ivr.prompt_dir":            "hotline",
		"ivr.language":              "en",
		"ivr.trunk":                 "SIP/{number}@carrier",
		"ivr.emergency":             "110=SIP/110@carrier",
		"ivr.operators":             "operator1=PJSIP/8001",
		"ivr.voicemail.category":    "TS",
		"ivr.voicemail.format":      "gsm",
		"ivr.status.tries":          "5",
		"ivr.spool_dir":             "/var/spool/asterisk/rexian-voicemail",
		"ivr.status.max_digits":     "12",

		// The survey policy (callback).
		"callback.hours":             "08:30-21:00",
		"callback.max_call_attempts": "5",
		"callback.category_sample":   "ZX=0.2,TS-GN=0.5",

		// The card rules (dashboards).
		"dashboards.yellow_on_overdue":     "false",
		"dashboards.red_on_double_overdue": "false",
		"dashboards.red_after_yellows":     "5",
	}
	for _, k := range Keys() {
		t.Run(k.Path, func(t *testing.T) {
			raw, ok := perKey[k.Path]
			if !ok {
				raw, ok = samples[k.typ]
			}
			if !ok {
				t.Fatalf("no sample value for %s (%s): add one to this test", k.Path, k.typ)
			}
			cfg, err := Load(Source{Environ: []string{k.Env + "=" + raw}})
			if err != nil {
				t.Fatalf("Load with %s=%s: %v", k.Env, raw, err)
			}
			base, err := Load(Source{})
			if err != nil {
				t.Fatal(err)
			}
			got := reflect.ValueOf(cfg).FieldByIndex(k.index).Interface()
			if reflect.DeepEqual(got, reflect.ValueOf(base).FieldByIndex(k.index).Interface()) {
				t.Errorf("%s=%s did not change %s (still %v)", k.Env, raw, k.Path, got)
			}
		})
	}
}

func TestUnknownFileKey(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"top level", "addr: 127.0.0.1:1\nlisten: :80\n", []string{`line 2: unknown key "listen"`}},
		{"in a section", "tickets:\n  handle_clock: sign\n", []string{`line 2: unknown key "tickets.handle_clock"`}},
		{"unknown section", "kannel:\n  url: x\n", []string{`unknown key "kannel"`}},
		{"right word, wrong place", "handle_clock_from: sign\n", []string{`unknown key "handle_clock_from" (did you mean "tickets.handle_clock_from"?)`}},
		{"all reported", "a: 1\nb: 2\n", []string{`unknown key "a"`, `unknown key "b"`}},
		{"section given a value", "tickets: sign\n", []string{"tickets must be a mapping"}},
		{"value given a section", "addr:\n  host: x\n", []string{"addr: want a string, not a mapping"}},
		{"bad value names key and line", "auth:\n  session_ttl: 12\n", []string{"line 2: auth.session_ttl: cannot use \"12\" as a duration"}},
		{"bad number", "tickets:\n  duplicate_window_days: seven\n", []string{`tickets.duplicate_window_days: cannot use "seven" as a whole number: invalid syntax`}},
		{"not YAML", "addr: [\n", []string{"rexian.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Source{File: writeFile(t, tt.file)})
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(Source{File: filepath.Join(t.TempDir(), "absent.yaml")})
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Fatalf("error %v; want one naming the file", err)
	}
}

func TestBadEnvAndFlag(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		flags []Setting
		want  string
	}{
		{"duration", []string{"REXIAN_WORKERS_OVERDUE_INTERVAL=soon"}, nil, `REXIAN_WORKERS_OVERDUE_INTERVAL: cannot use "soon" as a duration`},
		{"bool", []string{"REXIAN_AUTH_SECURE_COOKIES=perhaps"}, nil, `REXIAN_AUTH_SECURE_COOKIES: cannot use "perhaps" as true or false`},
		{"text unmarshaler", []string{"REXIAN_LOG_LEVEL=loud"}, nil, `REXIAN_LOG_LEVEL: cannot use "loud"`},
		{"flag", nil, []Setting{{Path: "log.level", Value: "loud", Origin: "--log-level"}}, `--log-level: cannot use "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Source{Environ: tt.env, Flags: tt.flags})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir: must not be empty"},
		{"addr without port", func(c *Config) { c.Addr = "localhost" }, `addr: "localhost" is not HOST:PORT`},
		{"database scheme", func(c *Config) { c.DatabaseURL = "mysql://u:pw@h/d" }, `database_url: "mysql://u:xxxxx@h/d": scheme "mysql" is not one of postgres, postgresql, sqlite`},
		{"database without host", func(c *Config) { c.DatabaseURL = "postgres:///d" }, "database_url: \"postgres:///d\" has no host"},
		{"sqlite without path", func(c *Config) { c.DatabaseURL = "sqlite://" }, "has no file path"},
		{"redis scheme", func(c *Config) { c.RedisURL = "http://h:6379" }, `redis_url: "http://h:6379": scheme "http" is not one of redis, rediss, unix, redis-sentinel, rediss-sentinel`},
		{"sentinel without master", func(c *Config) { c.RedisURL = "redis-sentinel://:pw@s1:26379,s2:26379" }, `redis_url: redis sentinel url: no master name`},
		{"read url scheme", func(c *Config) {
			c.DatabaseURL = "postgres://u@db1:5432,db2:5432/d?target_session_attrs=read-write"
			c.DatabaseReadURL = "mysql://u@standby/d"
		}, `database_read_url: "mysql://u@standby/d": scheme "mysql" is not one of postgres, postgresql`},
		{"public url scheme", func(c *Config) { c.PublicURL = "ftp://x" }, `public_url: "ftp://x": scheme "ftp"`},
		{"public url not a url", func(c *Config) { c.PublicURL = "12345.gov.cn" }, `public_url: "12345.gov.cn": scheme ""`},
		{"time zone", func(c *Config) { c.TimeZone = "Asia/Beijing" }, `time_zone: "Asia/Beijing" is not a known time zone`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of text, json`},
		{"clock from", func(c *Config) { c.Tickets.HandleClockFrom = "signed" }, `tickets.handle_clock_from: "signed" is not one of dispatch, sign`},
		{"work hours syntax", func(c *Config) { c.Tickets.WorkHours = "8-12" }, `tickets.work_hours: `},
		{"work hours order", func(c *Config) { c.Tickets.WorkHours = "14:00-18:00,08:00-12:00" }, "tickets.work_hours: "},
		{"attachment size", func(c *Config) { c.Tickets.AttachmentMaxBytes = 0 }, "tickets.attachment_max_bytes: must be more than 0"},
		{"duplicate window", func(c *Config) { c.Tickets.DuplicateWindowDays = -1 }, "tickets.duplicate_window_days: must be at least 1"},
		{"no refusal reasons", func(c *Config) { c.Tickets.RefusalReasons = nil }, "tickets.refusal_reasons: must list at least one reason"},
		{"blank refusal reason", func(c *Config) { c.Tickets.RefusalReasons = []string{"a=x", " "} }, `tickets.refusal_reasons: reason 2: " " is not code=wording`},
		{"duplicate refusal code", func(c *Config) { c.Tickets.RefusalReasons = []string{"a=x", "a=y"} }, `tickets.refusal_reasons: reason 2: code "a" is listed twice`},
		{"trusted proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "proxy"} }, `trusted_proxies: "proxy" is not an IP address or CIDR range`},
		{"session ttl", func(c *Config) { c.Auth.SessionTTL = 0 }, "auth.session_ttl: must be more than 0"},
		{"audit retention", func(c *Config) { c.Audit.Retention = time.Hour }, "audit.retention: must be at least 24h"},
		{"audit syslog network", func(c *Config) { c.Audit.SyslogNetwork = "http" }, `audit.syslog_network: must be udp, tcp or unix, not "http"`},
		{"audit chain hash", func(c *Config) { c.Audit.ChainHash = "md5" }, `audit.chain_hash: "md5" is not a chain hash: use sha256 or sm3`},
		{"idle over ttl", func(c *Config) { c.Auth.IdleTimeout = 24 * time.Hour }, "auth.idle_timeout: 24h0m0s is longer than auth.session_ttl"},
		{"worker interval", func(c *Config) { c.Workers.OverdueInterval = time.Millisecond }, "workers.overdue_interval: must be at least 1s"},
		{"mailbox plain imap", func(c *Config) { c.Mailbox.IMAPURL = "imap://u:p@imap.city.gov.cn" }, "mailbox.imap_url: \"imap://u:xxxxx@imap.city.gov.cn\": imap:// sends the password in clear text"},
		{"mailbox from", func(c *Config) { c.Mailbox.SMTPURL = "smtps://mayor:p@smtp.city.gov.cn" }, "mailbox.from: must be set when the SMTP user name"},
		{"mailbox folders", func(c *Config) { c.Mailbox.FailedFolder = "Processed" }, `mailbox.failed_folder: "Processed" is already used`},
		{"kannel url", func(c *Config) { c.SMS.KannelURL = "ftp://127.0.0.1:13013" }, `sms.kannel_url: "ftp://127.0.0.1:13013": scheme`},
		{"short callback secret", func(c *Config) { c.SMS.CallbackSecret = "abc" }, "sms.callback_secret: must be at least 16 characters"},
		{"signature brackets", func(c *Config) { c.SMS.Signature = "12345热线" }, `sms.signature: "12345热线" must be enclosed in 【】`},
		{"quiet hours", func(c *Config) { c.SMS.QuietHours = "21-8" }, `sms.quiet_hours: "21-8" is not HH:MM-HH:MM`},
		{"quiet kinds", func(c *Config) { c.SMS.QuietKinds = []string{"surveys"} }, `sms.quiet_kinds: "surveys" is not one of`},
		{"max parts", func(c *Config) { c.SMS.MaxParts = 0 }, "sms.max_parts: must be between 1 and 255"},
		{"sms rate", func(c *Config) { c.SMS.RatePerSecond = 0 }, "sms.rate_per_second: must be more than 0"},
		{"sms expiry", func(c *Config) { c.SMS.Expiry = time.Second }, "sms.expiry: must be at least 1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.fillDerived()
			tt.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v; want it to contain %q", err, tt.want)
			}
		})
	}

	t.Run("several nodes", func(t *testing.T) {
		cfg := Default()
		cfg.DatabaseURL = "postgres://rexian:pw@db1:5432,db2:5432/rexian?target_session_attrs=read-write"
		cfg.DatabaseReadURL = "postgres://rexian:pw@db2:5432/rexian?target_session_attrs=standby"
		cfg.RedisURL = "redis-sentinel://:pw@s1:26379,s2:26379,s3/hotline/0?sentinel_password=sp"
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		m := cfg.Masked()
		for _, v := range []string{m.DatabaseURL, m.DatabaseReadURL, m.RedisURL} {
			if strings.Contains(v, "pw") || strings.Contains(v, "sp") {
				t.Errorf("masked %q still shows a password", v)
			}
		}
	})

	t.Run("all problems at once", func(t *testing.T) {
		cfg := Default()
		cfg.fillDerived()
		cfg.Log.Format = "xml"
		cfg.Tickets.HandleClockFrom = "never"
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "log.format") || !strings.Contains(err.Error(), "tickets.handle_clock_from") {
			t.Fatalf("Validate: %v; want both problems", err)
		}
	})
}

func TestRefusalReason(t *testing.T) {
	code, name, err := ParseRefusalReason(" outside_remit = 不属于本市管辖范围 ")
	if err != nil || code != "outside_remit" || name != "不属于本市管辖范围" {
		t.Errorf("got %q %q %v", code, name, err)
	}
	for _, bad := range []string{"不属于本市管辖范围", "Outside=x", "x=", "=x"} {
		if _, _, err := ParseRefusalReason(bad); err == nil {
			t.Errorf("ParseRefusalReason(%q) accepted", bad)
		}
	}
}

func TestMasked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://rexian:s3cret@db.internal:5432/rexian?sslmode=disable", "postgres://rexian:xxxxx@db.internal:5432/rexian?sslmode=disable"},
		{"postgres://rexian@db.internal/rexian", "postgres://rexian@db.internal/rexian"},
		{"redis://:hunter2@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"http://kannel:13013/cgi-bin/sendsms?username=rexian&password=pw", "http://kannel:13013/cgi-bin/sendsms?password=xxxxx&username=rexian"},
		{"postgres://u:p%zz@h/d", "postgres://u:xxxxx@h/d"}, // unparseable, still masked
		{"sqlite://data/rexian.db", "sqlite://data/rexian.db"},
		{"not a url: a:b@c", "not a url: a:b@c"},
	}
	for _, tt := range tests {
		if got := maskURL(tt.in); got != tt.want {
			t.Errorf("maskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	cfg := Default()
	cfg.DatabaseURL = "postgres://rexian:s3cret@db:5432/rexian"
	cfg.RedisURL = "redis://:hunter2@cache:6379/0"
	cfg.Tickets.RefusalReasons = []string{"x=y", "see=https://u:pw@wiki/refusals"}
	masked := cfg.Masked()
	if masked.DatabaseURL != "postgres://rexian:xxxxx@db:5432/rexian" || masked.RedisURL != "redis://:xxxxx@cache:6379/0" {
		t.Errorf("masked urls: %q %q", masked.DatabaseURL, masked.RedisURL)
	}
	if cfg.DatabaseURL != "postgres://rexian:s3cret@db:5432/rexian" || cfg.Tickets.RefusalReasons[1] != "see=https://u:pw@wiki/refusals" {
		t.Error("Masked changed the original")
	}
	out, err := masked.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") || strings.Contains(string(out), "hunter2") {
		t.Errorf("printed config shows a secret:\n%s", out)
	}
}

// TestSecretTag checks the walker on a struct like a future section with a password.
func TestSecretTag(t *testing.T) {
	type sms struct {
		URL      string   `yaml:"url"`
		Password string   `yaml:"password" secret:"true"`
		Keys     []string `yaml:"keys" secret:"true"`
		Empty    string   `yaml:"empty" secret:"true"`
	}
	type root struct {
		SMS sms `yaml:"sms"`
	}
	keys, err := keysOf(reflect.TypeFor[root](), nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	v := root{SMS: sms{URL: "http://u:p@k/", Password: "pw", Keys: []string{"a", "b"}}}
	rv := reflect.ValueOf(&v).Elem()
	maskFields(rv, keys)
	want := root{SMS: sms{URL: "http://u:xxxxx@k/", Password: Mask, Keys: []string{Mask, Mask}}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if k, _ := findKey(keys, "sms.password"); !k.Secret || k.Env != "REXIAN_SMS_PASSWORD" {
		t.Errorf("key %+v", k)
	}
}

func TestUnsupportedType(t *testing.T) {
	type bad struct {
		M map[int]string `yaml:"m"`
	}
	if _, err := keysOf(reflect.TypeFor[bad](), nil, nil, false); err == nil || !strings.Contains(err.Error(), "key m: type map[int]string is not supported") {
		t.Fatalf("error %v", err)
	}
	type untagged struct{ X string }
	if _, err := keysOf(reflect.TypeFor[untagged](), nil, nil, false); err == nil {
		t.Fatal("a field without a yaml tag was accepted")
	}
}

func TestAllSupportedTypes(t *testing.T) {
	type inner struct {
		F float64 `yaml:"f"`
		I int64   `yaml:"i"`
	}
	type root struct {
		S  string        `yaml:"s"`
		B  bool          `yaml:"b"`
		N  int           `yaml:"n"`
		D  time.Duration `yaml:"d"`
		L  []string      `yaml:"l"`
		Lv slog.Level    `yaml:"lv"`
		In inner         `yaml:"in"`
	}
	keys, err := keysOf(reflect.TypeFor[root](), nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var got root
	rv := reflect.ValueOf(&got).Elem()
	values := map[string]string{"s": "x", "b": "true", "n": "-4", "d": "1h30m", "l": "p, q", "lv": "error", "in.f": "2.5", "in.i": "9000000000"}
	for path, raw := range values {
		k, ok := findKey(keys, path)
		if !ok {
			t.Fatalf("no key %s", path)
		}
		if err := k.set(rv, raw); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	want := root{S: "x", B: true, N: -4, D: 90 * time.Minute, L: []string{"p", "q"}, Lv: slog.LevelError, In: inner{F: 2.5, I: 9000000000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"REXIAN_ADDR=x", "REXIAN_DATABSE_URL=y", "REXIAN_TEST_DB=postgres", "PATH=/bin", "REXIAN_TICKETS_WORKHOURS=z"})
	if diff := cmp.Diff([]string{"REXIAN_DATABSE_URL", "REXIAN_TICKETS_WORKHOURS"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPrintRoundTrip checks that what `config print` shows loads back to the same values.
func TestPrintRoundTrip(t *testing.T) {
	cfg := Default()
	cfg.fillDerived()
	cfg.Log.Level = slog.LevelWarn
	cfg.Auth.SecureCookies = true
	cfg.Tickets.RefusalReasons = []string{"outside_remit=不属于本市受理范围", "a=b, c"}
	cfg.TrustedProxies = []string{"127.0.0.1", "10.0.0.0/8"}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(Source{File: writeFile(t, string(out))})
	if err != nil {
		t.Fatalf("Load of printed config: %v\n%s", err, out)
	}
	if diff := cmp.Diff(cfg, got); diff != "" {
		t.Errorf("(-printed +loaded):\n%s", diff)
	}
}
