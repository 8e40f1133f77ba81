package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// acked is a write the platform acknowledged, and when.
type acked struct {
	number string
	sha    string // the attachment's SHA-256, "" for a ticket without one
	at     time.Time
	smsAt  time.Time // when its SMS was acknowledged; zero if it was not
}

// restoreTarget is a new, empty place to restore into: a data folder that does not exist
// yet and an empty database of the run's kind (on PostgreSQL a new database, whose
// search_path names the schema the source used, as pg_dump keeps it).
func restoreTarget(t *testing.T, sourceDB string) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	if dbtest.Kind() == database.SQLite {
		return []string{"REXIAN_DATA_DIR=" + dir, "REXIAN_DATABASE_URL=sqlite://" + filepath.Join(dir, "rexian.db"), "REXIAN_ADDR=127.0.0.1:0"}
	}
	src, err := url.Parse(sourceDB)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := database.Open(ctx, dbtest.PostgresURL(), nil)
	if err != nil {
		dbtest.Unavailable(t, "PostgreSQL", "scripts/test", err)
	}
	defer database.Close(admin)
	b := make([]byte, 6)
	rand.Read(b)
	name := "restore_" + hex.EncodeToString(b)
	if err := admin.WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := database.Open(ctx, dbtest.PostgresURL(), nil)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer database.Close(admin)
		if err := admin.WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	target := *src
	target.Path = "/" + name
	return []string{"REXIAN_DATA_DIR=" + dir, "REXIAN_DATABASE_URL=" + target.String(), "REXIAN_ADDR=127.0.0.1:0"}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestRestoreDrill backs rexian up while 20 writers register tickets (some with an
// attachment) and queue SMS, restores the backup into a new, empty place, and checks
// that the timelines verify and that every ticket and attachment acknowledged before
// the backup started is there.
func TestRestoreDrill(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	r := startApp(t, testConfig(t, env))
	store, outbox := r.app.domains.tickets, r.app.domains.sms
	opr := &auth.Principal{Name: "drill", Role: auth.RoleOperator}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var mu sync.Mutex
	var acks []acked
	var writeErrs []error
	var wg sync.WaitGroup
	started := make(chan struct{}, 20)
	for w := range 20 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				v, err := store.Create(ctx, opr, tickets.NewTicket{
					Channel: tickets.ChannelPhone, Citizen: tickets.NewCitizen{Name: "演练", Phone: fmt.Sprintf("139%04d%04d", w, i)},
					Content: fmt.Sprintf("备份演练 写入者%d 第%d件：路灯不亮", w, i), Category: "TS-GN",
				})
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						writeErrs = append(writeErrs, err)
						mu.Unlock()
					}
					return
				}
				a := acked{number: v.Number, at: time.Now()}
				if i%2 == 0 {
					body := fmt.Sprintf("现场照片说明 %s %d %d\n", v.Number, w, i)
					if _, err := store.AddAttachment(ctx, opr, v.Number, "说明.txt", strings.NewReader(body)); err == nil {
						sum := sha256.Sum256([]byte(body))
						a.sha, a.at = hex.EncodeToString(sum[:]), time.Now()
					} else if ctx.Err() == nil {
						mu.Lock()
						writeErrs = append(writeErrs, err)
						mu.Unlock()
					}
				}
				if _, _, err := outbox.Enqueue(ctx, sms.NewMessage{Kind: sms.KindFreeText, To: "13800138000",
					Text: "您的诉求已受理：" + v.Number, CreatedBy: "operator:drill"}); err == nil {
					a.smsAt = time.Now()
				} else if ctx.Err() == nil {
					mu.Lock()
					writeErrs = append(writeErrs, err)
					mu.Unlock()
				}
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
				if i == 2 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 20 {
		<-started // every writer is under way
	}

	file := filepath.Join(t.TempDir(), "rexian-backup.tar.gz")
	backupStart := time.Now()
	code, out, stderr := runCLI(t, env, "", "backup", "--out", file)
	backupEnd := time.Now()
	stop()
	wg.Wait()
	if code != exitOK {
		t.Fatalf("backup: exit %d\n%s%s", code, out, stderr)
	}
	for _, err := range writeErrs {
		t.Errorf("a writer failed: %v", err)
	}
	var before, during, smsBefore int
	for _, a := range acks {
		// The SMS is queued after the ticket, so a ticket acknowledged just before the
		// backup may have its SMS acknowledged after it started: count them apart.
		if !a.smsAt.IsZero() && a.smsAt.Before(backupStart) {
			smsBefore++
		}
		if a.at.Before(backupStart) {
			before++
		} else if a.at.Before(backupEnd) {
			during++
		}
	}
	st, _ := os.Stat(file)
	t.Logf("backup of %d bytes in %s while writing: %d tickets acknowledged before it, %d during it; %s",
		st.Size(), backupEnd.Sub(backupStart).Round(time.Millisecond), before, during, strings.TrimSpace(out))
	if during == 0 {
		t.Error("no write was acknowledged while the backup ran: the drill did not test a backup under load")
	}

	target := restoreTarget(t, envValue(env, "REXIAN_DATABASE_URL"))
	if code, out, stderr := runCLI(t, target, "", "restore", file); code != exitOK {
		t.Fatalf("restore: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, target, "", "audit", "verify")
	if code != exitOK || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("audit verify of the restored database: exit %d\n%s%s", code, out, stderr)
	}

	ctx2, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx2, envValue(target, "REXIAN_DATABASE_URL"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer database.Close(db)
	dataDir := envValue(target, "REXIAN_DATA_DIR")
	missing := 0
	for _, a := range acks {
		if !a.at.Before(backupStart) {
			continue
		}
		var tk tickets.Ticket
		if err := db.Where("number = ?", a.number).First(&tk).Error; err != nil {
			missing++
			t.Errorf("ticket %s, acknowledged before the backup, is not in the restore: %v", a.number, err)
			continue
		}
		if a.sha == "" {
			continue
		}
		var att tickets.Attachment
		if err := db.Where("ticket_id = ? AND sha256 = ?", tk.ID, a.sha).First(&att).Error; err != nil {
			t.Errorf("ticket %s lost its attachment in the restore: %v", a.number, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dataDir, "attachments", filepath.FromSlash(att.StoredName)))
		if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != a.sha {
			t.Errorf("ticket %s: attachment file %s missing or changed in the restore (%v)", a.number, att.StoredName, err)
		}
	}
	var messages int64
	db.Model(&sms.Message{}).Count(&messages)
	t.Logf("restored: audit %q; %d SMS in the outbox", strings.TrimSpace(out), messages)
	if messages < int64(smsBefore) {
		t.Errorf("%d SMS in the restored outbox, fewer than the %d acknowledged before the backup", messages, smsBefore)
	}

	// The same place again is not empty: refused, and nothing changes.
	if code, _, stderr := runCLI(t, target, "", "restore", file); code != exitFailure || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore into the restored place: exit %d, %s; want a refusal", code, stderr)
	}
	// A damaged archive is refused before anything is written.
	damaged := filepath.Join(t.TempDir(), "damaged.tar.gz")
	corruptCopy(t, file, damaged)
	if code, _, stderr := runCLI(t, restoreTarget(t, envValue(env, "REXIAN_DATABASE_URL")), "", "restore", damaged); code != exitFailure ||
		!(strings.Contains(stderr, "damaged") || strings.Contains(stderr, "checksum")) {
		t.Errorf("restore of a damaged archive: exit %d, %s; want a refusal", code, stderr)
	}
}

// corruptCopy copies a backup, changing one byte of an attachment inside it while keeping
// the archive readable: the archive is rewritten uncompressed with the change.
func corruptCopy(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := gunzip(b)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte("现场照片说明"))
	if i < 0 {
		t.Fatal("no attachment found in the backup")
	}
	raw[i] ^= 0x01
	if err := os.WriteFile(dst, gzipBytes(t, raw), 0o600); err != nil {
		t.Fatal(err)
	}
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
