package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
)

// TestPrimaryStandby runs rexian on a primary/standby pair of real PostgreSQL servers
// (the standby made with pg_basebackup, streaming): database_url lists an address that
// refuses, the standby and the primary with target_session_attrs=read-write, and rexian
// must write to the primary; database_read_url names the standby, and the supervisors'
// figures and the spreadsheet export must read there — shown by pausing the standby's
// replay: a ticket registered meanwhile is missing from both until replay resumes.
func TestPrimaryStandby(t *testing.T) {
	if dbtest.Kind() != database.Postgres {
		t.Skip("a primary/standby pair is PostgreSQL's; this test runs in the PostgreSQL run (REXIAN_TEST_DB=postgres)")
	}
	primary := dbtest.StartPostgres(t)
	standby := primary.StartStandby(t)
	refused := closedPort(t)
	hosts := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", refused, standby.Port(), primary.Port())
	env := []string{
		"REXIAN_DATA_DIR=" + t.TempDir(),
		"REXIAN_DATABASE_URL=postgres://postgres@" + hosts + "/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=5",
		"REXIAN_DATABASE_READ_URL=" + standby.URL(),
		"REXIAN_REDIS_URL=",
		"REXIAN_ADDR=127.0.0.1:0",
	}
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo through the multi-host URL: exit %d: %s", code, stderr)
	}
	r := startApp(t, testConfig(t, env))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, c := range []struct {
		name     string
		db       *gorm.DB
		port     int
		recovery bool
	}{{"database_url", r.app.db, primary.Port(), false}, {"database_read_url", r.app.domains.read, standby.Port(), true}} {
		var s struct {
			Port     int
			Recovery bool
		}
		if err := c.db.WithContext(ctx).Raw(`SELECT inet_server_port() AS port, pg_is_in_recovery() AS recovery`).Scan(&s).Error; err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.Port != c.port || s.Recovery != c.recovery {
			t.Errorf("%s reaches port %d (in recovery %v); want %d (in recovery %v)", c.name, s.Port, s.Recovery, c.port, c.recovery)
		}
	}

	store := r.app.domains.tickets
	opr := &auth.Principal{Name: "operator1", Role: auth.RoleOperator}
	register := func(what string) string {
		t.Helper()
		v, err := store.Create(ctx, opr, tickets.NewTicket{Channel: tickets.ChannelPhone,
			Citizen: tickets.NewCitizen{Name: "张三", Phone: "13900001111"}, Content: what, Category: "TS-GN"})
		if err != nil {
			t.Fatalf("register a ticket on the primary: %v", err)
		}
		return v.Number
	}
	sup := &auth.Principal{Name: "supervisor1", Role: auth.RoleSupervisor}
	accepted := func() int64 {
		t.Helper()
		p, err := dashboards.PeriodOf(dashboards.PeriodToday, time.Now(), "", "", r.app.cfg.Location())
		if err != nil {
			t.Fatal(err)
		}
		fs, err := r.app.domains.dashboards.Figures(ctx, sup, p, dashboards.GroupNone)
		if err != nil {
			t.Fatalf("figures: %v", err)
		}
		return fs.Total.Accepted
	}
	c := newCrawler(t, r.base)
	c.login("supervisor1")
	exported := func() []string {
		t.Helper()
		resp, err := c.client.Get(r.base + "/console/export/tickets")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("export: %d %s", resp.StatusCode, body)
		}
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("export is no workbook: %v", err)
		}
		defer f.Close()
		rows, err := f.GetRows(f.GetSheetName(0))
		if err != nil {
			t.Fatal(err)
		}
		var numbers []string
		for _, row := range rows[1:] {
			numbers = append(numbers, row[0])
		}
		return numbers
	}

	first := register("路灯不亮（主库写入，备库可见）")
	eventually(t, "the standby to replay the first ticket", func() bool { return accepted() == 1 })
	if got := exported(); !slices.Contains(got, first) {
		t.Fatalf("export %v lacks %s after replay", got, first)
	}

	// Hold the standby still: what is registered now is on the primary only.
	sdb := dbtest.OpenURL(t, standby.URL())
	if err := sdb.WithContext(ctx).Exec(`SELECT pg_wal_replay_pause()`).Error; err != nil {
		t.Fatal(err)
	}
	second := register("井盖缺失（备库暂停回放）")
	var onPrimary int64
	if err := r.app.db.WithContext(ctx).Model(&tickets.Ticket{}).Count(&onPrimary).Error; err != nil || onPrimary != 2 {
		t.Fatalf("tickets on the primary: %d, %v; want 2", onPrimary, err)
	}
	if n := accepted(); n != 1 {
		t.Errorf("figures count %d accepted while the standby is paused; want 1: they do not read the standby", n)
	}
	if got := exported(); slices.Contains(got, second) {
		t.Errorf("export holds %s while the standby is paused: it does not read the standby", second)
	}
	if err := sdb.WithContext(ctx).Exec(`SELECT pg_wal_replay_resume()`).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the figures to catch up once replay resumes", func() bool { return accepted() == 2 })
	if got := exported(); !slices.Contains(got, second) {
		t.Errorf("export %v lacks %s after replay resumed", got, second)
	}
}

// closedPort is a loopback port nothing listens on: connections to it are refused.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
