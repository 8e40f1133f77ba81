package tickets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gabriel-vasile/mimetype"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/idempotency"
)

// allowedTypes are the attachment types accepted, by the type sniffed from the content,
// with the file-name extensions that may carry each. A file whose name claims one type
// while its bytes are another (an .exe called photo.jpg) is refused.
var allowedTypes = map[string][]string{
	"image/jpeg":      {".jpg", ".jpeg"},
	"image/png":       {".png"},
	"image/gif":       {".gif"},
	"image/webp":      {".webp"},
	"application/pdf": {".pdf"},
	"audio/wav":       {".wav"},
	"audio/mpeg":      {".mp3"},
	"audio/amr":       {".amr"},
	"text/plain":      {".txt"},
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": {".docx"},
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":       {".xlsx"},
}

// AllowedAttachmentExtensions lists the extensions accepted, for messages and docs.
func AllowedAttachmentExtensions() []string {
	var out []string
	for _, exts := range allowedTypes {
		out = append(out, exts...)
	}
	return out
}

// AddAttachment stores a file with a ticket. The file is written under the attachment
// folder by its SHA-256 (never by a name from the client) before the database row is
// committed; a failed commit leaves at most an unreferenced file, never a row without one.
func (s *Store) AddAttachment(ctx context.Context, p *auth.Principal, number, fileName string, r io.Reader) (*AttachmentView, error) {
	if s.opts.AttachmentDir == "" {
		return nil, api.Errorf(api.ErrUnavailable, "attachments_off", "attachments are not configured on this server")
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	// Check the ticket first so that nobody can fill the disk through a ticket they cannot see.
	t, as, err := s.load(ctx, s.db, number, false)
	if err != nil {
		return nil, err
	}
	if !visible(dir, p, as) {
		return nil, errNotFound(t.Number)
	}
	if !p.Is(rules[ActAttach].roles...) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "a %s may not add attachments", p.Role)
	}
	if !rules[ActAttach].allows(t.Status) {
		return nil, api.Errorf(api.ErrConflict, "illegal_transition", "ticket %s is %s; attachments can be added only while it is open", t.Number, t.Status)
	}
	name := filepath.Base(strings.ReplaceAll(fileName, `\`, "/"))
	if name == "." || name == "/" || name == "" {
		return nil, invalid("empty_file_name", "the file has no name")
	}
	if len(name) > 255 {
		return nil, invalid("file_name_too_long", "file name is over 255 bytes")
	}
	if err := os.MkdirAll(s.opts.AttachmentDir, 0o750); err != nil {
		return nil, fmt.Errorf("attachment folder: %w", err)
	}
	tmp, err := os.CreateTemp(s.opts.AttachmentDir, ".upload-*")
	if err != nil {
		return nil, fmt.Errorf("attachment temp file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.opts.AttachmentMaxBytes+1))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, api.Errorf(api.ErrTooLarge, "attachment_too_large", "attachment is over the limit of %d bytes", s.opts.AttachmentMaxBytes)
		}
		return nil, fmt.Errorf("receive attachment: %w", err)
	}
	if n > s.opts.AttachmentMaxBytes {
		return nil, api.Errorf(api.ErrTooLarge, "attachment_too_large", "attachment %q is over the limit of %d bytes", name, s.opts.AttachmentMaxBytes)
	}
	if n == 0 {
		return nil, invalid("empty_attachment", "attachment %q is empty", name)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	mt, err := mimetype.DetectReader(tmp)
	if err != nil {
		return nil, fmt.Errorf("sniff attachment: %w", err)
	}
	ctype := ""
	for typ := range allowedTypes {
		if mt.Is(typ) {
			ctype = typ
		}
	}
	if ctype == "" {
		return nil, invalid("attachment_type", "attachment %q is %s, which is not accepted; accepted: %s",
			name, mt.String(), strings.Join(AllowedAttachmentExtensions(), " "))
	}
	ext := strings.ToLower(filepath.Ext(name))
	okExt := false
	for _, e := range allowedTypes[ctype] {
		okExt = okExt || e == ext
	}
	if !okExt {
		return nil, invalid("attachment_disguised", "attachment %q is named %s but its content is %s", name, ext, ctype)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	final := filepath.Join(s.opts.AttachmentDir, sum[:2], sum)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, fmt.Errorf("store attachment: %w", err)
	}
	now := s.now()
	att := &Attachment{TicketID: t.ID, FileName: name, ContentType: ctype, Size: n, SHA256: sum,
		StoredName: sum[:2] + "/" + sum, UploadedBy: p.Actor(), CreatedAt: now}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		t, as, err := s.load(ctx, tx, number, true)
		if err != nil {
			return err
		}
		w := &work{s: s, dir: dir, p: p, t: t, as: as, now: now, from: t.Status, version: t.Version}
		w.event(ActAttach, nil, name, map[string]any{"file": name, "sha256": sum, "size": n})
		att.EventSeq = t.EventSeq
		if err := w.save(tx); err != nil {
			return err
		}
		if err := tx.Create(att).Error; err != nil {
			return err
		}
		// A request with an Idempotency-Key learns on retry what its first try stored.
		return idempotency.Link(ctx, tx, attachmentRef(att.ID))
	})
	if err != nil {
		return nil, err
	}
	return s.attachmentView(t.Number, att), nil
}

// attachmentRef names an attachment to the idempotency keys.
func attachmentRef(id uint64) string { return "attachment:" + strconv.FormatUint(id, 10) }

func (s *Store) attachmentView(number string, a *Attachment) *AttachmentView {
	return &AttachmentView{ID: a.ID, FileName: a.FileName, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256,
		UploadedBy: a.UploadedBy, CreatedAt: a.CreatedAt.In(s.opts.Location),
		URL: fmt.Sprintf("/api/v1/tickets/%s/attachments/%d", number, a.ID)}
}

// LinkedAttachment is the attachment that an earlier try of this request stored, when
// the request carries an Idempotency-Key whose first answer was lost; ok is false when
// there is none and the upload should run.
func (s *Store) LinkedAttachment(ctx context.Context, p *auth.Principal, number string) (v *AttachmentView, ok bool, err error) {
	ref, done := idempotency.Done(ctx)
	raw, isAttachment := strings.CutPrefix(ref, "attachment:")
	if !done || !isAttachment {
		return nil, false, nil
	}
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return nil, false, fmt.Errorf("idempotency key linked to %q: %w", ref, err)
	}
	a, f, err := s.OpenAttachment(ctx, p, number, id)
	if err != nil {
		return nil, false, err
	}
	f.Close()
	return s.attachmentView(number, a), true, nil
}

// OpenAttachment returns a stored attachment of a ticket p may see.
func (s *Store) OpenAttachment(ctx context.Context, p *auth.Principal, number string, id uint64) (*Attachment, *os.File, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, as, err := s.load(ctx, s.db, number, false)
	if err != nil {
		return nil, nil, err
	}
	if !visible(dir, p, as) {
		return nil, nil, errNotFound(t.Number)
	}
	var a Attachment
	if err := s.db.WithContext(ctx).Where("id = ? AND ticket_id = ?", id, t.ID).Take(&a).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, api.Errorf(api.ErrNotFound, "attachment_not_found", "ticket %s has no attachment %d", t.Number, id)
		}
		return nil, nil, err
	}
	f, err := os.Open(filepath.Join(s.opts.AttachmentDir, filepath.FromSlash(a.StoredName)))
	if err != nil {
		return nil, nil, fmt.Errorf("open attachment %d of %s: %w", id, t.Number, err)
	}
	return &a, f, nil
}
