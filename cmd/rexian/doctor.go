package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/sms/kannel"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/qq"
)

// The doctor checks everything the configuration names and prints a checklist, with
// what to do about each failure. Each part of the platform adds its checks to
// doctorChecks; a check reports through its checkup (pass, fail, skip) and never stops
// the others, so one run shows every problem at once.

// finding is one line of the checklist.
type finding struct {
	Name   string // what was checked: "database reachable", "kannel sendsms credentials"
	OK     bool
	Skip   bool   // not configured: shown, never a failure
	Detail string // what was seen
	Fix    string // what to do, for a failure
}

// checkup is one run of the doctor: the configuration, what earlier checks opened for
// later ones, and the findings so far.
type checkup struct {
	cfg config.Config
	log *slog.Logger
	// db is the database when it could be opened, else nil; checks that need it skip.
	db       *gorm.DB
	findings []finding
}

func (k *checkup) pass(name, detail string) {
	k.findings = append(k.findings, finding{Name: name, OK: true, Detail: detail})
}

func (k *checkup) fail(name, detail, fix string) {
	k.findings = append(k.findings, finding{Name: name, Detail: detail, Fix: fix})
}

func (k *checkup) skip(name, detail string) {
	k.findings = append(k.findings, finding{Name: name, OK: true, Skip: true, Detail: detail})
}

// failed counts the failures.
func (k *checkup) failed() int {
	n := 0
	for _, f := range k.findings {
		if !f.OK {
			n++
		}
	}
	return n
}

// doctorCheck is one part of the checklist. Checks run in order, each with its own
// timeout, and a later one may use what an earlier one opened (k.db).
type doctorCheck struct {
	name    string
	timeout time.Duration
	run     func(ctx context.Context, k *checkup)
}

// doctorChecks is the checklist, in the order it is printed.
func doctorChecks() []doctorCheck {
	return []doctorCheck{
		{"database", 15 * time.Second, checkDatabase},
		{"live store", 10 * time.Second, checkLiveStore},
		{"disk", 5 * time.Second, checkDisk},
		{"asterisk", 30 * time.Second, checkAsterisk},
		{"public_url", 10 * time.Second, checkPublicURL},
		{"kannel", 20 * time.Second, checkKannel},
		{"mailbox", 40 * time.Second, checkMailbox},
		{"qq", 15 * time.Second, checkQQ},
	}
}

func (c *cli) doctorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check everything the configuration names; print a checklist with fixes",
		Long: `Check everything the configuration names: the database (reachable, migrated, text
search), the live store, the disk, and each configured service. Prints one line per
check (ok, FAIL or --, the last for what is not configured) and, under each failure, what
to do about it. Exits 0 only when every check passes. It changes nothing: it does not
migrate the database.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			k := &checkup{cfg: cfg, log: log}
			defer func() {
				if k.db != nil {
					database.Close(k.db)
				}
			}()
			for _, ch := range doctorChecks() {
				ctx, cancel := context.WithTimeout(cmd.Context(), ch.timeout)
				ch.run(ctx, k)
				cancel()
			}
			printFindings(c.stdout, k.findings)
			if n := k.failed(); n > 0 {
				return fmt.Errorf("doctor: %d of %d checks failed", n, len(k.findings))
			}
			return nil
		},
	}
}

// printFindings writes the checklist: a status column, the check, what was seen, and
// the fix indented under a failure.
func printFindings(w interface{ Write([]byte) (int, error) }, fs []finding) {
	var b strings.Builder
	for _, f := range fs {
		status := "ok  "
		switch {
		case f.Skip:
			status = "--  "
		case !f.OK:
			status = "FAIL"
		}
		fmt.Fprintf(&b, "%s  %s", status, f.Name)
		if f.Detail != "" {
			fmt.Fprintf(&b, ": %s", f.Detail)
		}
		b.WriteByte('\n')
		if !f.OK && f.Fix != "" {
			fmt.Fprintf(&b, "      fix: %s\n", f.Fix)
		}
	}
	w.Write([]byte(b.String()))
}

// ---- database ----

// maxClockOffset is how far this machine's clock may be from the database's before
// deadlines and timelines (stamped by both) disagree enough to matter.
const maxClockOffset = 2 * time.Second

// checkDatabase opens the database without migrating it and checks that every
// migration this binary knows is applied, that text search will find Chinese words,
// and that the clocks agree.
func checkDatabase(ctx context.Context, k *checkup) {
	target := redactURL(k.cfg.DatabaseURL)
	db, err := database.Open(ctx, k.cfg.DatabaseURL, nil)
	if err == nil {
		err = database.Ping(ctx, db)
		if err != nil {
			database.Close(db)
		}
	}
	if err != nil {
		k.fail("database reachable", fmt.Sprintf("%s: %v", target, err),
			"start the database or correct database_url (REXIAN_DATABASE_URL)")
		return
	}
	k.db = db
	dialect := database.DialectOf(db)
	k.pass("database reachable", fmt.Sprintf("%s (%s)", target, dialect))
	checkMigrated(ctx, k)
	if dialect == database.Postgres {
		checkPostgresSearch(ctx, k)
	}
	checkClock(ctx, k)
}

func checkMigrated(ctx context.Context, k *checkup) {
	var applied []string
	if err := k.db.WithContext(ctx).Table("schema_migrations").Pluck("id", &applied).Error; err != nil {
		k.fail("database migrated", fmt.Sprintf("no migrations recorded (%v)", err), "run 'rexian migrate' (serve also migrates on start)")
		return
	}
	have := map[string]bool{}
	for _, id := range applied {
		have[id] = true
	}
	var missing []string
	known := map[string]bool{}
	for _, m := range migrations() {
		known[m.ID] = true
		if !have[m.ID] {
			missing = append(missing, m.ID)
		}
	}
	var unknown []string
	for _, id := range applied {
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	switch {
	case len(missing) > 0:
		k.fail("database migrated", fmt.Sprintf("%d of %d migrations not applied (first: %s)", len(missing), len(known), missing[0]),
			"run 'rexian migrate' (serve also migrates on start)")
	case len(unknown) > 0:
		k.fail("database migrated", fmt.Sprintf("%d migrations this rexian does not know (first: %s): a newer version migrated it", len(unknown), unknown[0]),
			"run the newer rexian, or restore the backup taken before the upgrade")
	default:
		k.pass("database migrated", fmt.Sprintf("%d migrations", len(known)))
	}
}

// checkPostgresSearch checks what ticket search needs from PostgreSQL: a UTF-8 database
// whose character type knows Chinese letters (pg_trgm skips the characters a C locale
// calls non-letters, which is every Chinese one), and the pg_trgm extension.
func checkPostgresSearch(ctx context.Context, k *checkup) {
	var enc struct{ Encoding, Ctype string }
	err := k.db.WithContext(ctx).Raw(`SELECT pg_encoding_to_char(encoding) AS encoding, datctype AS ctype
		FROM pg_database WHERE datname = current_database()`).Scan(&enc).Error
	const collationFix = "create the database with ENCODING 'UTF8' and a UTF-8 locale, e.g. " +
		"CREATE DATABASE rexian ENCODING 'UTF8' LC_COLLATE 'zh_CN.UTF-8' LC_CTYPE 'zh_CN.UTF-8' TEMPLATE template0 " +
		"(or C.UTF-8), then restore a backup into it"
	switch {
	case err != nil:
		k.fail("database UTF-8 for search", err.Error(), "grant the rexian user read access to pg_database")
	case enc.Encoding != "UTF8":
		k.fail("database UTF-8 for search", "encoding "+enc.Encoding, collationFix)
	case !strings.Contains(strings.ToLower(strings.ReplaceAll(enc.Ctype, "-", "")), "utf8"):
		k.fail("database UTF-8 for search", fmt.Sprintf("character type %q does not know Chinese letters: word search misses them", enc.Ctype), collationFix)
	default:
		k.pass("database UTF-8 for search", "encoding UTF8, character type "+enc.Ctype)
	}
	var n int64
	if err := k.db.WithContext(ctx).Raw("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&n).Error; err != nil || n == 0 {
		detail := "not installed: word search reads every ticket"
		if err != nil {
			detail = err.Error()
		}
		k.fail("pg_trgm extension", detail,
			"as a superuser: CREATE EXTENSION pg_trgm; then the indexes in README.md, PostgreSQL")
		return
	}
	k.pass("pg_trgm extension", "installed")
}

// checkClock compares this machine's clock with the database's.
func checkClock(ctx context.Context, k *checkup) {
	q := "SELECT CAST(strftime('%s','now') AS INTEGER)"
	if database.DialectOf(k.db) == database.Postgres {
		q = "SELECT CAST(extract(epoch FROM clock_timestamp()) AS BIGINT)"
	}
	before := time.Now()
	var dbUnix int64
	if err := k.db.WithContext(ctx).Raw(q).Scan(&dbUnix).Error; err != nil {
		k.fail("clock", err.Error(), "check that the database answers plain queries")
		return
	}
	after := time.Now()
	// The database's second lies within the round trip; its whole seconds cost up to one.
	mid := before.Add(after.Sub(before) / 2)
	offset := time.Unix(dbUnix, 0).Add(500 * time.Millisecond).Sub(mid)
	if offset.Abs() > maxClockOffset {
		k.fail("clock", fmt.Sprintf("this machine is %s off the database's clock", offset.Round(time.Second)),
			"synchronise both machines with NTP (chrony or systemd-timesyncd)")
		return
	}
	k.pass("clock", fmt.Sprintf("within %s of the database", maxClockOffset))
}

// ---- live store ----

func checkLiveStore(ctx context.Context, k *checkup) {
	if k.cfg.RedisURL == "" {
		k.pass("live store", "in-process (no redis_url): fine for one instance, not for several")
		return
	}
	target := redactURL(k.cfg.RedisURL)
	s, err := live.Open(ctx, k.cfg.RedisURL, k.log)
	if err == nil {
		err = s.Ping(ctx).Err()
		s.Close()
	}
	if err != nil {
		k.fail("live store (Redis)", fmt.Sprintf("%s: %v", target, err), "start Redis or correct redis_url (REXIAN_REDIS_URL)")
		return
	}
	k.pass("live store (Redis)", target)
}

// redactURL masks a URL's password for printing.
func redactURL(raw string) string {
	return config.Config{DatabaseURL: raw}.Masked().DatabaseURL
}

// ---- disk ----

// Below either of these the data disk fails the check: attachments, recordings and the
// SQLite file all grow there, and a full disk stops ticket registration.
const (
	minFreeBytes    = 1 << 30 // 1 GiB
	minFreeFraction = 0.05
)

func checkDisk(ctx context.Context, k *checkup) {
	dir := k.cfg.DataDir
	free, total, err := diskSpace(dir)
	if err != nil {
		k.fail("data disk", fmt.Sprintf("%s: %v", dir, err), "create the data folder (data_dir, REXIAN_DATA_DIR) and let rexian's user write to it")
		return
	}
	detail := fmt.Sprintf("%s: %s free of %s", dir, humanBytes(free), humanBytes(total))
	if free < minFreeBytes || float64(free) < minFreeFraction*float64(total) {
		k.fail("data disk", detail, "free space on the data disk (old backups, logs) or grow it; rexian needs at least 1 GiB and 5 % free")
		return
	}
	k.pass("data disk", detail)
}

// humanBytes prints n in binary units, one decimal.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ---- asterisk ----

// checkAsterisk checks each Asterisk node through ARI and the voice-message spool (ivr).
func checkAsterisk(ctx context.Context, k *checkup) {
	for _, f := range ivr.Diagnose(ctx, k.cfg.ARI, k.cfg.IVR) {
		k.findings = append(k.findings, finding{Name: f.Name, OK: f.OK, Skip: f.Skip, Detail: f.Detail, Fix: f.Fix})
	}
}

// ---- what the platform talks to ----

// doctorHTTP is the client of the checks: short, and never following a redirect to
// somewhere the configuration does not name.
var doctorHTTP = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// httpGet fetches u and returns the status and up to 4 KiB of the body.
func httpGet(ctx context.Context, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	res, err := doctorHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	return res.StatusCode, string(b), nil
}

// checkPublicURL asks public_url for /healthz: the address citizens' links and Kannel's
// callbacks use must reach a serving rexian.
func checkPublicURL(ctx context.Context, k *checkup) {
	pub := strings.TrimRight(k.cfg.PublicURL, "/")
	if pub == "" {
		k.skip("public_url", "not set (public_url): links in SMS and mail, and Kannel's callbacks, need it")
		return
	}
	code, body, err := httpGet(ctx, pub+"/healthz")
	switch {
	case err != nil:
		k.fail("public_url", fmt.Sprintf("%s/healthz: %v", pub, err),
			"start rexian serve, and make public_url the address that reaches it (proxy, DNS, firewall)")
	case code != http.StatusOK || !strings.Contains(body, `"ok"`):
		k.fail("public_url", fmt.Sprintf("%s/healthz answered %d, not rexian's ok", pub, code),
			"public_url reaches something else: point it (or the proxy behind it) at rexian serve")
	default:
		k.pass("public_url", pub+" reaches a serving rexian")
	}
}

// checkKannel reads bearerbox's status page, tries the sendsms credentials (a request
// without a receiver, which Kannel refuses for a missing number only once the user and
// password are right: nothing is sent), and checks that the callback URLs Kannel is told
// to call answer here.
func checkKannel(ctx context.Context, k *checkup) {
	c := k.cfg.SMS
	if c.KannelURL == "" {
		k.skip("kannel", "not configured (sms.kannel_url): messages wait in the outbox")
		return
	}
	if c.KannelStatusURL == "" {
		k.skip("kannel status page", "sms.kannel_status_url not set")
	} else {
		code, body, err := httpGet(ctx, c.KannelStatusURL)
		shown := config.Config{DatabaseURL: c.KannelStatusURL}.Masked().DatabaseURL
		switch {
		case err != nil:
			k.fail("kannel status page", fmt.Sprintf("%s: %v", shown, err), "start bearerbox, or correct sms.kannel_status_url")
		case code != http.StatusOK || !strings.Contains(body, "running"):
			k.fail("kannel status page", fmt.Sprintf("%s answered %d: %.80s", shown, code, strings.TrimSpace(body)),
				"check the admin-password in kannel.conf's core group and sms.kannel_status_url; bearerbox should say \"running\"")
		default:
			first, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
			k.pass("kannel status page", first)
		}
	}
	q := url.Values{"username": {c.KannelUser}, "password": {c.KannelPassword}, "text": {"rexian doctor"}}
	code, body, err := httpGet(ctx, strings.TrimRight(c.KannelURL, "/")+"/cgi-bin/sendsms?"+q.Encode())
	body = strings.TrimSpace(body)
	switch {
	case err != nil:
		k.fail("kannel sendsms", fmt.Sprintf("%s: %v", c.KannelURL, err), "start smsbox, or correct sms.kannel_url (smsbox's sendsms-port)")
	case code == http.StatusForbidden || strings.Contains(strings.ToLower(body), "authorization failed"):
		k.fail("kannel sendsms credentials", fmt.Sprintf("smsbox refused user %q: %s", c.KannelUser, body),
			"make sms.kannel_user and sms.kannel_password match a sendsms-user group in kannel.conf")
	case strings.Contains(strings.ToLower(body), "receiver"):
		k.pass("kannel sendsms credentials", fmt.Sprintf("user %q accepted (%s)", c.KannelUser, body))
	default:
		k.fail("kannel sendsms credentials", fmt.Sprintf("unexpected answer %d: %.80s", code, body),
			"is sms.kannel_url smsbox's sendsms-port?")
	}
	if k.cfg.PublicURL == "" {
		k.fail("kannel callbacks", "public_url is not set: Kannel cannot report deliveries", "set public_url to the address Kannel reaches rexian at")
		return
	}
	// Without the secret the callback answers 401 or 403: it is rexian, and it is there.
	cb := strings.TrimRight(k.cfg.PublicURL, "/") + kannel.DLRPath
	code, _, err = httpGet(ctx, cb)
	switch {
	case err != nil:
		k.fail("kannel callbacks", fmt.Sprintf("%s: %v", cb, err),
			"Kannel calls back at public_url: make it reach rexian from Kannel's host (checked from here)")
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusBadRequest:
		k.pass("kannel callbacks", cb+" answers (checked from this machine)")
	default:
		k.fail("kannel callbacks", fmt.Sprintf("%s answered %d, not rexian's callback", cb, code),
			"public_url reaches something else: point it at rexian serve")
	}
}

// checkMailbox logs in to the IMAP and SMTP servers the mailbox uses.
func checkMailbox(ctx context.Context, k *checkup) {
	m := k.cfg.Mailbox
	if m.IMAPURL == "" && m.SMTPURL == "" {
		k.skip("mailbox", "not configured (mailbox.imap_url, mailbox.smtp_url)")
		return
	}
	w, err := newMailbox(k.cfg, slog.New(slog.DiscardHandler), tickets.NewStore(k.db, tickets.Options{Log: k.log}))
	if err != nil {
		k.fail("mailbox", err.Error(), "correct mailbox.imap_url and mailbox.smtp_url")
		return
	}
	if w.reader != nil {
		missing, err := w.reader.Check(ctx)
		switch {
		case err != nil:
			k.fail("IMAP login and folders", err.Error(), "check the user, password and folder in mailbox.imap_url, and that the server is reachable")
		case len(missing) > 0:
			k.pass("IMAP login and folders", "logged in; the reader will create "+strings.Join(missing, ", "))
		default:
			k.pass("IMAP login and folders", "logged in; inbox and folders present")
		}
	}
	if w.sender != nil {
		if err := w.sender.Check(ctx); err != nil {
			k.fail("SMTP login", err.Error(), "check the user and password in mailbox.smtp_url, and that the server offers AUTH PLAIN or LOGIN")
		} else {
			k.pass("SMTP login", "logged in")
		}
	}
}

// checkQQ asks the OneBot implementation who it is logged in as.
func checkQQ(ctx context.Context, k *checkup) {
	q := k.cfg.QQ
	if !q.Enabled {
		k.skip("QQ bot API", "not enabled (qq.enabled)")
		return
	}
	if q.APIURL == "" {
		k.skip("QQ bot API", "no qq.api_url: replies go over the bots' WebSocket connections only")
		return
	}
	api := &qq.API{BaseURL: q.APIURL, AccessToken: q.AccessToken, Client: doctorHTTP}
	if err := api.Call(ctx, 0, "get_login_info", struct{}{}); err != nil {
		k.fail("QQ bot API", err.Error(), "start the OneBot implementation and make qq.api_url and qq.access_token match its HTTP API")
		return
	}
	k.pass("QQ bot API", q.APIURL+" answers get_login_info")
}
