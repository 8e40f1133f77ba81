package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/pii/piitest"
	"github.com/rexian/rexian/tickets"
)

// withDomainsFor opens env's database as the application would and calls f with its
// domains.
func withDomainsFor(t *testing.T, env []string, f func(ctx context.Context, d *domains)) {
	t.Helper()
	cfg := testConfig(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := openDatabase(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer database.Close(db)
	d, err := newDomains(ctx, cfg, testLogger(t), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	f(ctx, d)
}

// TestPersonalDataKeysThroughCLI turns encryption on for a city that ran without it:
// rexian keys new, the keys file, rexian keys rotate; then a wrong key fails clearly.
func TestPersonalDataKeysThroughCLI(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	operator := &auth.Principal{UserID: 1, Name: "operator1", Role: auth.RoleOperator}
	var number string
	withDomainsFor(t, env, func(ctx context.Context, d *domains) {
		v, err := d.tickets.Create(ctx, operator, tickets.NewTicket{
			Channel: tickets.ChannelPhone, Citizen: tickets.NewCitizen{Name: "王先生", Phone: "13800138000"},
			Title: "小区供暖温度不达标", Content: "东胜区某小区近一周室温不足十六度。", Category: "ZX-SHBX",
		})
		if err != nil {
			t.Fatal(err)
		}
		number = v.Number
		// The citizen's call and SMS from before the keys.
		now := time.Now().UTC()
		for _, q := range []string{
			`INSERT INTO ivr_calls (node, channel_id, caller, dialled, hotline, direction, arrived_at, ended_at, updated_at) VALUES ('n1', 'c1', '13800138000', '12345', '12345', 'inbound', ?, ?, ?)`,
			`INSERT INTO sms_inbound (gateway_ref, "from", "to", text, received_at, route, created_at) VALUES (NULL, '13800138000', '12345', '谢谢', ?, 'ignored', ?)`,
			`INSERT INTO sms_suppressions (phone, reason, note, created_by, created_at) VALUES ('13800138000', 'opt_out', 'TD', 'citizen', ?)`,
		} {
			args := []any{now, now, now}[:strings.Count(q, "?")]
			if err := d.db.WithContext(ctx).Exec(q, args...).Error; err != nil {
				t.Fatal(err)
			}
		}
	})

	code, keys, stderr := runCLI(t, env, "", "keys", "new", "--id", "2027a")
	if code != exitOK || !regexp.MustCompile(`\Akey 2027a [0-9a-f]{32}\nindex 2027a [0-9a-f]{64}\n\z`).MatchString(keys) {
		t.Fatalf("keys new: exit %d, stdout %q, stderr %s", code, keys, stderr)
	}
	file := filepath.Join(t.TempDir(), "personal-data.keys")
	if err := os.WriteFile(file, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	sealed := append(env, "REXIAN_PERSONAL_DATA_KEYS_FILE="+file)
	for run, want := range []string{"resealed 1 tickets with key 2027a", "resealed 0 tickets with key 2027a"} {
		code, stdout, stderr := runCLI(t, sealed, "", "keys", "rotate", "--batch", "10")
		others := "ivr_calls 1, sms_messages 0, sms_parts 0, sms_inbound 1, sms_suppressions 1, sms_conversations 0, sms_notices 0, callback_surveys 0, mailbox_letters 0, mailbox_replies 0"
		if run > 0 {
			others = "ivr_calls 0, sms_messages 0, sms_parts 0, sms_inbound 0, sms_suppressions 0, sms_conversations 0, sms_notices 0, callback_surveys 0, mailbox_letters 0, mailbox_replies 0"
		}
		if code != exitOK || !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "resealed rows: "+others) {
			t.Fatalf("keys rotate run %d: exit %d, stdout %q, stderr %s", run+1, code, stdout, stderr)
		}
	}

	withDomainsFor(t, sealed, func(ctx context.Context, d *domains) {
		var raw string
		if err := d.db.WithContext(ctx).Raw(`SELECT citizen_phone FROM tickets WHERE number = ?`, number).Scan(&raw).Error; err != nil {
			t.Fatal(err)
		}
		if id, ok := pii.IsSealed(raw); !ok || id != "2027a" || strings.Contains(raw, "13800138000") {
			t.Errorf("citizen_phone in the database = %q, want it sealed with 2027a", raw)
		}
		for _, col := range []string{`SELECT caller FROM ivr_calls`, `SELECT "from" FROM sms_inbound`, `SELECT phone FROM sms_suppressions`} {
			if err := d.db.WithContext(ctx).Raw(col).Scan(&raw).Error; err != nil {
				t.Fatal(err)
			}
			if id, ok := pii.IsSealed(raw); !ok || id != "2027a" {
				t.Errorf("%s = %q, want it sealed with 2027a", col, raw)
			}
		}
		items, _, err := d.tickets.List(ctx, operator, tickets.Filter{Phone: "13800138000"}, api.Page{Page: 1, PerPage: 10})
		if err != nil || len(items) != 1 || items[0].CitizenPhone != "13800138000" {
			t.Errorf("search by phone: %+v, %v", items, err)
		}
	})

	// Another key under the same id does not open the data, and says so.
	code, other, _ := runCLI(t, env, "", "keys", "new", "--id", "2027a")
	if code != exitOK {
		t.Fatal("keys new failed")
	}
	withDomainsFor(t, append(env, "REXIAN_PERSONAL_DATA_KEYS="+strings.ReplaceAll(other, "\n", ";")), func(ctx context.Context, d *domains) {
		_, err := d.tickets.Find(ctx, operator, number)
		if !errors.Is(err, pii.ErrKey) || !strings.Contains(err.Error(), `"2027a" does not open the value`) {
			t.Errorf("Find with a wrong key: err = %v", err)
		}
	})
	if code, _, stderr := runCLI(t, env, "", "keys", "rotate"); code == exitOK || !strings.Contains(stderr, "no personal-data keys") {
		t.Errorf("keys rotate without keys: exit %d, stderr %s", code, stderr)
	}

	// A deletion request: the closed ticket loses the citizen's data; the erasure is audited.
	withDomainsFor(t, sealed, func(ctx context.Context, d *domains) {
		if _, err := d.tickets.Act(ctx, operator, number, tickets.ActRefuse, tickets.ActionRequest{Reason: "litigation"}); err != nil {
			t.Fatal(err)
		}
	})
	if code, _, stderr := runCLI(t, sealed, "", "privacy", "erase", "--phone", "13800138000"); code != exitUsage || !strings.Contains(stderr, "reason") {
		t.Errorf("privacy erase without --reason: exit %d, stderr %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, sealed, "", "privacy", "erase", "--phone", "13800138000", "--reason", "市民来电要求删除", "--by", "zhao")
	if code != exitOK || !strings.HasPrefix(stdout, "erased 1 tickets: "+number+"\nkept 0 open tickets") ||
		!strings.Contains(stdout, "erased the number from 1 call records, 1 SMS and 0 surveys") {
		t.Fatalf("privacy erase: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	withDomainsFor(t, sealed, func(ctx context.Context, d *domains) {
		v, err := d.tickets.Find(ctx, operator, number)
		if err != nil || v.Citizen.Phone != "" || v.Citizen.Name != "" {
			t.Errorf("after erasure: %+v, %v", v.Citizen, err)
		}
		var detail string
		if err := d.db.WithContext(ctx).Raw(`SELECT detail FROM audit_records WHERE action = 'pii_erased' AND actor = 'admin:zhao' AND target = 'tickets'`).Scan(&detail).Error; err != nil ||
			!strings.Contains(detail, number) || strings.Contains(detail, "13800138000") {
			t.Errorf("audit record of the erasure: %q, %v", detail, err)
		}
		var n int64
		if err := d.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM ivr_calls WHERE caller = '' AND caller_idx = ''`).Scan(&n).Error; err != nil || n != 1 {
			t.Errorf("the call record after erasure: %d erased, %v", n, err)
		}
		if err := d.db.WithContext(ctx).Raw(`SELECT detail FROM audit_records WHERE action = 'pii_erased' AND target = 'calls,sms,surveys'`).Scan(&detail).Error; err != nil ||
			!strings.Contains(detail, "1 call records, 1 SMS") || strings.Contains(detail, "13800138000") {
			t.Errorf("audit record of the erasure of calls and SMS: %q, %v", detail, err)
		}
	})
}

// The standby that figures and exports read from (database_read_url) opens sealed
// personal data with the same keys as the primary: an export from it shows the citizen's
// number, not the sealed value.
func TestStandbyReadOpensSealedData(t *testing.T) {
	if dbtest.Kind() != database.Postgres {
		t.Skip("database_read_url is for a PostgreSQL standby (REXIAN_TEST_DB=postgres)")
	}
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	var url string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "REXIAN_DATABASE_URL="); ok {
			url = v
		}
	}
	// The same database through a pool of its own stands for the standby.
	env = append(env, "REXIAN_DATABASE_READ_URL="+url, "REXIAN_PERSONAL_DATA_KEYS="+strings.ReplaceAll(piitest.Text, "\n", ";"))
	operator := &auth.Principal{UserID: 1, Name: "operator1", Role: auth.RoleOperator}
	withDomainsFor(t, env, func(ctx context.Context, d *domains) {
		t.Cleanup(func() { _ = d.closeRead() })
		if d.read == d.db {
			t.Fatal("database_read_url was not opened")
		}
		v, err := d.tickets.Create(ctx, operator, tickets.NewTicket{
			Channel: tickets.ChannelPhone, Citizen: tickets.NewCitizen{Name: "王先生", Phone: "13800138000"},
			Title: "小区供暖温度不达标", Content: "东胜区某小区近一周室温不足十六度。", Category: "ZX-SHBX",
		})
		if err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := d.read.WithContext(ctx).Raw(`SELECT citizen_phone FROM tickets WHERE number = ?`, v.Number).Scan(&raw).Error; err != nil {
			t.Fatal(err)
		}
		if _, ok := pii.IsSealed(raw); !ok {
			t.Fatalf("citizen_phone stored as %q; want it sealed", raw)
		}
		got, err := d.tickets.ReadingFrom(d.read).Find(ctx, operator, v.Number)
		if err != nil || got.Citizen.Phone != "13800138000" || got.Citizen.Name != "王先生" {
			t.Fatalf("the ticket read from the standby: %+v, %v; want the number and name opened", got.Citizen, err)
		}
	})
}
