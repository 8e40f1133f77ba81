package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
)

// NoticeInput is an application-confirmation notice as the online-approval system posts
// it.
type NoticeInput struct {
	ApplicationNumber string   `json:"application_number"`
	ApplicantName     string   `json:"applicant_name"`
	Mobile            string   `json:"mobile"`
	Item              string   `json:"item"`
	Department        string   `json:"department"`
	Hall              string   `json:"hall"`
	Window            string   `json:"window"`
	ConfirmBy         string   `json:"confirm_by"` // YYYY-MM-DD
	Documents         []string `json:"documents"`
}

// NoticeView is a notice with its message's delivery status.
type NoticeView struct {
	ID                uint64       `json:"id"`
	ApplicationNumber string       `json:"application_number"`
	ApplicantName     string       `json:"applicant_name"`
	Mobile            string       `json:"mobile"`
	Item              string       `json:"item"`
	Department        string       `json:"department,omitempty"`
	Hall              string       `json:"hall"`
	Window            string       `json:"window"`
	ConfirmBy         string       `json:"confirm_by"`
	Documents         []string     `json:"documents"`
	CreatedBy         string       `json:"created_by"`
	CreatedAt         time.Time    `json:"created_at"`
	Message           *MessageView `json:"message,omitempty"`
}

var applicationNumber = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-./]{0,63}$`)

// MaxDocuments bounds the documents of one notice.
const MaxDocuments = 20

func field(name, v string, max int, required bool) (string, error) {
	v = strings.TrimSpace(v)
	if required && v == "" {
		return "", api.Errorf(api.ErrInvalid, "empty_"+name, "%s is empty; it is required", name)
	}
	if !utf8.ValidString(v) {
		return "", api.Errorf(api.ErrInvalid, "invalid_"+name, "%s is not valid UTF-8 text", name)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return "", api.Errorf(api.ErrInvalid, name+"_too_long", "%s is %d characters long; the limit is %d", name, n, max)
	}
	return v, nil
}

// checkNotice validates in and returns the row and the message it makes.
func (s *Service) checkNotice(ctx context.Context, in NoticeInput) (*Notice, NewMessage, error) {
	var n Notice
	var err error
	if n.ApplicationNumber, err = field("application_number", in.ApplicationNumber, 64, true); err != nil {
		return nil, NewMessage{}, err
	}
	if !applicationNumber.MatchString(n.ApplicationNumber) {
		return nil, NewMessage{}, api.Errorf(api.ErrInvalid, "invalid_application_number",
			"application_number %q must be letters, digits and - _ . / (up to 64)", n.ApplicationNumber)
	}
	if n.ApplicantName, err = field("applicant_name", in.ApplicantName, 64, true); err != nil {
		return nil, NewMessage{}, err
	}
	if n.Mobile, err = Recipient(in.Mobile); err != nil {
		return nil, NewMessage{}, err
	}
	if n.Item, err = field("item", in.Item, 128, true); err != nil {
		return nil, NewMessage{}, err
	}
	if n.Department, err = field("department", in.Department, 128, false); err != nil {
		return nil, NewMessage{}, err
	}
	if n.Hall, err = field("hall", in.Hall, 255, true); err != nil {
		return nil, NewMessage{}, err
	}
	if n.Window, err = field("window", in.Window, 32, true); err != nil {
		return nil, NewMessage{}, err
	}
	n.Window = strings.TrimSuffix(strings.TrimSuffix(n.Window, "窗口"), "号") // the template says 号窗口
	date, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(in.ConfirmBy), s.loc)
	if err != nil {
		return nil, NewMessage{}, api.Errorf(api.ErrInvalid, "invalid_confirm_by", "confirm_by %q is not a date like 2026-12-05", in.ConfirmBy)
	}
	today := s.now().In(s.loc)
	if date.Before(time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, s.loc)) {
		return nil, NewMessage{}, api.Errorf(api.ErrInvalid, "confirm_by_past", "confirm_by %s is in the past", in.ConfirmBy)
	}
	n.ConfirmBy = date.Format("2006-01-02")
	var docs []string
	for _, d := range in.Documents {
		if d = strings.TrimSpace(d); d != "" {
			if _, err := field("document", d, 64, true); err != nil {
				return nil, NewMessage{}, err
			}
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, NewMessage{}, api.Errorf(api.ErrInvalid, "empty_documents", "documents lists no original documents to bring")
	}
	if len(docs) > MaxDocuments {
		return nil, NewMessage{}, api.Errorf(api.ErrInvalid, "too_many_documents", "documents lists %d items; the limit is %d", len(docs), MaxDocuments)
	}
	b, _ := json.Marshal(docs)
	n.Documents = string(b)
	m := NewMessage{Kind: KindApplicationNotice, To: n.Mobile, Template: TemplateApplicationNotice,
		IdempotencyKey: "application:" + n.ApplicationNumber,
		Variables: map[string]string{
			"application": n.ApplicationNumber, "name": n.ApplicantName, "item": n.Item, "department": n.Department,
			"date": fmt.Sprintf("%d年%d月%d日", date.Year(), date.Month(), date.Day()), "documents": strings.Join(docs, "、"),
			"hall": n.Hall, "window": n.Window,
		}}
	// Render now, so that a notice too long to send is refused before it is stored.
	text, err := s.compose(ctx, m)
	if err != nil {
		return nil, NewMessage{}, err
	}
	if _, _, err := s.checkLength(text); err != nil {
		return nil, NewMessage{}, err
	}
	return &n, m, nil
}

// CreateNotice stores an application-confirmation notice and queues its SMS. It is
// idempotent on the application number: a second post returns the first notice (created
// false) and never a second SMS.
func (s *Service) CreateNotice(ctx context.Context, actor string, in NoticeInput, mask bool) (NoticeView, bool, error) {
	if num := strings.TrimSpace(in.ApplicationNumber); num != "" {
		if v, err := s.Notice(ctx, num, mask); err == nil {
			return v, false, nil
		} else if !errors.Is(err, api.ErrNotFound) {
			return NoticeView{}, false, err
		}
	}
	n, m, err := s.checkNotice(ctx, in)
	if err != nil {
		return NoticeView{}, false, err
	}
	n.CreatedBy, n.CreatedAt = actor, s.clock()
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(n)
	if res.Error != nil {
		return NoticeView{}, false, fmt.Errorf("sms: store notice %s: %w", n.ApplicationNumber, res.Error)
	}
	created := res.RowsAffected == 1
	if !created {
		if err := s.db.WithContext(ctx).Where("application_number = ?", n.ApplicationNumber).Take(n).Error; err != nil {
			return NoticeView{}, false, fmt.Errorf("sms: notice %s: %w", n.ApplicationNumber, err)
		}
	}
	if n.MessageID == 0 {
		// A crash after the notice and before its message is repaired by the next post:
		// the message's key makes it one SMS however often this runs.
		m.NoticeID, m.CreatedBy = &n.ID, actor
		msg, _, err := s.Enqueue(ctx, m)
		if err != nil {
			return NoticeView{}, false, err
		}
		if err := s.db.WithContext(ctx).Model(&Notice{}).Where("id = ?", n.ID).Update("message_id", msg.ID).Error; err != nil {
			return NoticeView{}, false, fmt.Errorf("sms: link notice %s to its message: %w", n.ApplicationNumber, err)
		}
	}
	v, err := s.Notice(ctx, n.ApplicationNumber, mask)
	return v, created, err
}

// Notice returns a notice by application number with its message's delivery status.
func (s *Service) Notice(ctx context.Context, number string, mask bool) (NoticeView, error) {
	var n Notice
	err := s.db.WithContext(ctx).Where("application_number = ?", strings.TrimSpace(number)).Take(&n).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return NoticeView{}, api.Errorf(api.ErrNotFound, "notice_not_found", "no notice for application %q", number)
	}
	if err != nil {
		return NoticeView{}, fmt.Errorf("sms: notice %s: %w", number, err)
	}
	v := NoticeView{ID: n.ID, ApplicationNumber: n.ApplicationNumber, ApplicantName: n.ApplicantName, Mobile: n.Mobile, Item: n.Item,
		Department: n.Department, Hall: n.Hall, Window: n.Window, ConfirmBy: n.ConfirmBy, CreatedBy: n.CreatedBy, CreatedAt: n.CreatedAt.In(s.loc)}
	_ = json.Unmarshal([]byte(n.Documents), &v.Documents)
	if mask {
		v.Mobile = phone.Mask(v.Mobile)
	}
	if n.MessageID != 0 {
		mv, err := s.Message(ctx, n.MessageID, mask)
		if err != nil {
			return NoticeView{}, err
		}
		v.Message = &mv
	}
	return v, nil
}
