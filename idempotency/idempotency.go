// Package idempotency lets a client repeat a creating POST without creating twice: a
// request that carries an Idempotency-Key header is answered once, and the answer is kept
// in the database (durable state is the truth, so it survives a restart) for a configured
// time; the same key again gets the same status and body, the same key with another body
// gets 422. Keys are scoped to the principal that sent them.
//
// A request whose process died before its answer was kept leaves its key pending. A
// creating store links what it created to the key inside its own transaction (Link), so
// that a retry finds it (Done) and answers with it instead of creating again; a pending
// key without a link is taken over once its lease has passed.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/pii"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// DefaultTTL is how long a key is kept unless configured.
const DefaultTTL = 24 * time.Hour

// lease is how long a pending key without a link is left to the request that claimed it
// before another may take it over: longer than any request runs.
const lease = 15 * time.Second

// maxKeyLen bounds a key (clients use UUIDs).
const maxKeyLen = 200

// Record is one key: pending (Status 0) while its first request runs, then its answer.
type Record struct {
	Principal   string `gorm:"primaryKey;size:64"`
	Key         string `gorm:"primaryKey;size:200"`
	RequestHash string `gorm:"size:64;not null"`
	Status      int    `gorm:"not null"`
	ContentType string `gorm:"size:100"`
	Body        []byte
	// Ref is what the first request created (a ticket number), written in the creating
	// transaction, so that a retry after a crash finds it.
	Ref       string    `gorm:"size:64"`
	CreatedAt time.Time `gorm:"not null;index"`
	ClaimedAt time.Time `gorm:"not null"`
}

// TableName keeps the table's name stable.
func (Record) TableName() string { return "idempotency_keys" }

// Migrations create the table.
func Migrations() []*database.Migration {
	return []*database.Migration{{
		ID: "20261206_20_idempotency_keys",
		Migrate: func(tx *gorm.DB) error {
			// A snapshot of Record as this migration made it.
			type idempotencyKey struct {
				Principal   string `gorm:"primaryKey;size:64"`
				Key         string `gorm:"primaryKey;size:200"`
				RequestHash string `gorm:"size:64;not null"`
				Status      int    `gorm:"not null"`
				ContentType string `gorm:"size:100"`
				Body        []byte
				Ref         string    `gorm:"size:64"`
				CreatedAt   time.Time `gorm:"not null;index"`
				ClaimedAt   time.Time `gorm:"not null"`
			}
			return tx.Table("idempotency_keys").Migrator().CreateTable(&idempotencyKey{})
		},
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("idempotency_keys") },
	}}
}

// Keys keeps the keys.
type Keys struct {
	db  *gorm.DB
	ttl time.Duration
	log *slog.Logger
	now func() time.Time
}

// New returns the keys kept in db for ttl (0: DefaultTTL).
func New(db *gorm.DB, ttl time.Duration, log *slog.Logger) *Keys {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Keys{db: db, ttl: ttl, log: log, now: time.Now}
}

type ctxKey struct{}

// claim is the key the request in hand holds.
type claim struct {
	principal, key string
	ref            string // set when a crashed first request had created this
}

// Link records, inside the transaction tx that creates it, what the request holding a
// key created. Without a key in ctx it does nothing.
func Link(ctx context.Context, tx *gorm.DB, ref string) error {
	cl, ok := ctx.Value(ctxKey{}).(*claim)
	if !ok {
		return nil
	}
	err := tx.Model(&Record{}).Where("principal = ? AND key = ?", cl.principal, cl.key).Update("ref", ref).Error
	if err != nil {
		return fmt.Errorf("link idempotency key: %w", err)
	}
	return nil
}

// Done returns what an earlier request with this request's key created, when that
// request's answer was lost: the handler answers with it rather than create again.
func Done(ctx context.Context) (ref string, ok bool) {
	cl, found := ctx.Value(ctxKey{}).(*claim)
	if !found || cl.ref == "" {
		return "", false
	}
	return cl.ref, true
}

// principalID names who sent the request, for the key's scope.
func principalID(p *auth.Principal) string {
	if p.TokenID != 0 {
		return "token:" + strconv.FormatUint(uint64(p.TokenID), 10)
	}
	return "user:" + strconv.FormatUint(uint64(p.UserID), 10)
}

// capture keeps a copy of what the handler writes.
type capture struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *capture) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *capture) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}

// secretAnswer reports routes whose answer holds a secret (a new token, a session's CSRF
// token): keeping it to replay would store the secret in the database.
func secretAnswer(route string) bool {
	return route == "/api/v1/tokens" || strings.HasPrefix(route, "/api/v1/auth/")
}

// Middleware answers POSTs that carry an Idempotency-Key once. It runs after the
// principal is known.
func (k *Keys) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader(Header)
		p := auth.Current(c)
		if c.Request.Method != http.MethodPost || key == "" || p == nil {
			c.Next()
			return
		}
		if secretAnswer(c.FullPath()) {
			api.WriteError(c, k.log, api.Errorf(api.ErrInvalid, "idempotency_not_supported",
				"%s is not accepted on %s: its answer holds a secret, which is never stored to be replayed; "+
					"retry without the header (list what exists first, e.g. GET /api/v1/tokens)", Header, c.FullPath()))
			return
		}
		if err := k.serve(c, p, key); err != nil {
			api.WriteError(c, k.log, err)
		}
	}
}

func (k *Keys) serve(c *gin.Context, p *auth.Principal, key string) error {
	if len(key) > maxKeyLen {
		return api.Errorf(api.ErrInvalid, "invalid_idempotency_key", "%s is over %d bytes", Header, maxKeyLen)
	}
	if err := api.CheckText(Header, key); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 64<<20))
	if err != nil {
		return api.Errorf(api.ErrInvalid, "unreadable_body", "request body could not be read: %v", err)
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(append([]byte(c.Request.Method+" "+c.Request.URL.Path+"\n"), body...))
	hash := hex.EncodeToString(sum[:])
	ctx := c.Request.Context()
	cl := &claim{principal: principalID(p), key: key}

	for range 3 {
		now := k.now().UTC()
		rec := Record{Principal: cl.principal, Key: key, RequestHash: hash, CreatedAt: now, ClaimedAt: now}
		res := k.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rec)
		if res.Error != nil {
			return fmt.Errorf("claim idempotency key: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			k.run(c, cl, now)
			return nil
		}
		var old Record
		err := k.db.WithContext(ctx).Where("principal = ? AND key = ?", cl.principal, key).Take(&old).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // its first request failed and let it go meanwhile
		}
		if err != nil {
			return fmt.Errorf("read idempotency key: %w", err)
		}
		if now.Sub(old.CreatedAt) > k.ttl {
			// Expired but not yet purged: a new request.
			k.db.WithContext(ctx).Where("principal = ? AND key = ? AND created_at = ?", cl.principal, key, old.CreatedAt).Delete(&Record{})
			continue
		}
		if old.RequestHash != hash {
			return api.Errorf(api.ErrUnprocessable, "idempotency_key_reused",
				"%s %q was used for a different request; send a new key for a new request", Header, key)
		}
		if old.Status != 0 {
			body, err := pii.Keys(k.db).Open(string(old.Body))
			if err != nil {
				return fmt.Errorf("replay %s %q: %w", Header, key, err)
			}
			c.Header("Idempotent-Replayed", "true")
			c.Data(old.Status, old.ContentType, []byte(body))
			c.Abort()
			return nil
		}
		if old.Ref == "" && now.Sub(old.ClaimedAt) < lease {
			c.Header("Retry-After", "1")
			return api.Errorf(api.ErrConflict, "idempotency_key_in_progress",
				"a request with %s %q is still being answered; try again shortly", Header, key)
		}
		// Its first request died: it created old.Ref (the handler answers with that) or,
		// without a link after the lease, nothing. Take the key over.
		res = k.db.WithContext(ctx).Model(&Record{}).
			Where("principal = ? AND key = ? AND claimed_at = ?", cl.principal, key, old.ClaimedAt).
			Update("claimed_at", now)
		if res.Error != nil {
			return fmt.Errorf("take over idempotency key: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			cl.ref = old.Ref
			k.run(c, cl, now)
			return nil
		}
	}
	c.Header("Retry-After", "1")
	return api.Errorf(api.ErrConflict, "idempotency_key_in_progress",
		"a request with %s %q is still being answered; try again shortly", Header, key)
}

// run lets the handler answer with the key claimed, and keeps the answer; a server error
// lets the key go, so that a retry runs again.
func (k *Keys) run(c *gin.Context, cl *claim, claimedAt time.Time) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), ctxKey{}, cl))
	w := &capture{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()
	c.Writer = w.ResponseWriter
	// The answer is kept even when the client has gone: that is when it is needed.
	ctx := context.WithoutCancel(c.Request.Context())
	status := w.Status()
	where := k.db.WithContext(ctx).Model(&Record{}).
		Where("principal = ? AND key = ? AND claimed_at = ?", cl.principal, cl.key, claimedAt)
	var err error
	if status >= 500 {
		err = where.Where("ref = ? OR ref IS NULL", "").Delete(&Record{}).Error
	} else {
		// The answer may name the citizen (a registered ticket): it is sealed at rest like
		// the ticket itself when personal-data keys are configured.
		var body string
		if body, err = pii.Keys(k.db).Seal(w.body.String()); err == nil {
			err = where.Updates(map[string]any{"status": status, "content_type": w.Header().Get("Content-Type"), "body": []byte(body)}).Error
		}
	}
	if err != nil {
		k.log.ErrorContext(ctx, "idempotency key not kept; a retry runs the request again", "err", err)
	}
}

// Purge deletes the keys older than the TTL.
func (k *Keys) Purge(ctx context.Context) (int64, error) {
	res := k.db.WithContext(ctx).Where("created_at < ?", k.now().UTC().Add(-k.ttl)).Delete(&Record{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", res.Error)
	}
	return res.RowsAffected, nil
}
