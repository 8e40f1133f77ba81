package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/hashchain"
	"github.com/rexian/rexian/idempotency"
	"github.com/rexian/rexian/phone"
)

// Calendar turns a limit into a deadline; *calendar.Calendar is the real one.
type Calendar interface {
	Add(start time.Time, l calendar.Limit) time.Time
}

// ClockFrom says when the handling clock starts.
type ClockFrom string

const (
	ClockFromDispatch ClockFrom = "dispatch"
	ClockFromSign     ClockFrom = "sign"
)

// Limits are the default sign-for and handling limits by urgency, used where the
// category tree says nothing.
type Limits struct {
	Sign, Handle                 calendar.Limit
	UrgentSign, UrgentHandle     calendar.Limit
	CriticalSign, CriticalHandle calendar.Limit
}

// DefaultLimits: normal tickets are signed for within 4 working hours and handled within
// 5 working days; urgent and critical ones run on the clock.
func DefaultLimits() Limits {
	return Limits{
		Sign:           calendar.Limit{N: 4, Unit: calendar.WorkingHours},
		Handle:         calendar.Limit{N: 5, Unit: calendar.WorkingDays},
		UrgentSign:     calendar.Limit{N: 2, Unit: calendar.ClockHours},
		UrgentHandle:   calendar.Limit{N: 24, Unit: calendar.ClockHours},
		CriticalSign:   calendar.Limit{N: 30, Unit: calendar.ClockMinutes},
		CriticalHandle: calendar.Limit{N: 4, Unit: calendar.ClockHours},
	}
}

// RefusalReason is a reason a ticket may be refused (不予受理), told to the citizen.
type RefusalReason struct {
	Code string `json:"code" yaml:"code"`
	Name string `json:"name" yaml:"name"`
}

// DefaultRefusalReasons is used when the configuration lists none.
func DefaultRefusalReasons() []RefusalReason {
	return []RefusalReason{
		{"outside_remit", "不属于本市管辖范围"},
		{"litigation", "已进入诉讼、仲裁或行政复议程序"},
		{"secrets", "涉及国家秘密、商业秘密或个人隐私"},
		{"petition_channel", "属于信访事项，应通过信访渠道反映"},
		{"unclear", "诉求内容不明确且无法联系诉求人"},
		{"already_answered", "重复诉求，已按程序答复"},
		{"unlawful", "恶意骚扰或诉求违反法律法规"},
	}
}

// Options configure a Store.
type Options struct {
	Calendar  Calendar
	Location  *time.Location // the city's zone for the times the API shows; default Asia/Shanghai
	Now       func() time.Time
	Log       *slog.Logger
	ClockFrom ClockFrom
	Limits    Limits
	// AttachmentDir is where attachment files are kept (under the data directory).
	AttachmentDir      string
	AttachmentMaxBytes int64
	// DuplicateWindow is how far back a registration looks for the same citizen's
	// similar tickets (重复件).
	DuplicateWindow time.Duration
	RefusalReasons  []RefusalReason
	// ExtensionMax bounds an extension (延期): the new deadline may lie at most this far
	// beyond the current one on the working calendar, so that a request for 9999-12-31,
	// once approved, cannot make a ticket that is never overdue. Zero means
	// DefaultExtensionMax.
	ExtensionMax calendar.Limit
	// Audit records every view of citizens' unmasked personal data (RecordView); nil
	// records nothing.
	Audit *audit.Log
	// ChainHash links new timeline events; default hashchain.Default (SHA-256). Events
	// linked before with another algorithm still verify: each names its own.
	ChainHash hashchain.Algorithm
}

// DefaultExtensionMax is the longest extension unless configured: 30 working days.
var DefaultExtensionMax = calendar.Limit{N: 30, Unit: calendar.WorkingDays}

// Limits on what a ticket may hold; the messages name them.
const (
	MaxTitleRunes   = 200
	MaxContentRunes = 5000
	MaxNoteRunes    = 2000
	MaxAnswerRunes  = 5000
)

// Store keeps tickets and carries out the workflow. Every write is one transaction, and
// every change of a ticket is checked against the version it was read at.
type Store struct {
	db   *gorm.DB
	opts Options
	dirs dirCache
}

// ReadingFrom returns a store over db, a standby of this store's database, for what only
// reads and may lag a moment behind: the spreadsheet exports. It must not write: a standby
// refuses writes.
func (s *Store) ReadingFrom(db *gorm.DB) *Store { return &Store{db: db, opts: s.opts} }

// NewStore returns a store over db.
func NewStore(db *gorm.DB, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ExtensionMax.IsZero() {
		opts.ExtensionMax = DefaultExtensionMax
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		opts.Location = loc
	}
	if opts.Calendar == nil {
		cal, err := calendar.New(calendar.Options{Location: opts.Location, Log: opts.Log})
		if err != nil {
			panic(fmt.Sprintf("tickets: default calendar: %v", err)) // embedded data; a test catches it
		}
		opts.Calendar = cal
	}
	if opts.ClockFrom == "" {
		opts.ClockFrom = ClockFromDispatch
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if opts.AttachmentMaxBytes == 0 {
		opts.AttachmentMaxBytes = 10 << 20
	}
	if opts.DuplicateWindow == 0 {
		opts.DuplicateWindow = 7 * 24 * time.Hour
	}
	if len(opts.RefusalReasons) == 0 {
		opts.RefusalReasons = DefaultRefusalReasons()
	}
	return &Store{db: db, opts: opts}
}

// DB returns the underlying handle (for workers that share the store's database).
func (s *Store) DB() *gorm.DB { return s.db }

func (s *Store) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// NewTicket is what registration (受理) takes.
type NewTicket struct {
	Channel  Channel          `json:"channel"`
	Citizen  NewCitizen       `json:"citizen"`
	Title    string           `json:"title"`
	Content  string           `json:"content"`
	Category string           `json:"category"` // category code
	Urgency  Urgency          `json:"urgency"`
	Location NewLocation      `json:"location"`
	Ref      string           `json:"external_ref"`
	Record   string           `json:"recording"`
	Answer   string           `json:"answer"`   // a direct answer completes a consultation at once (直接办结)
	Dispatch *DispatchRequest `json:"dispatch"` // dispatch at once (派单)
	Note     string           `json:"note"`
}

// NewCitizen is the person who asked.
type NewCitizen struct {
	Name       string `json:"name"`
	Phone      string `json:"phone"`
	Email      string `json:"email"`
	Anonymous  bool   `json:"anonymous"`
	WantsReply *bool  `json:"wants_reply"`
}

// NewLocation is where the matter is; district and township are department codes of the
// banner/district and township governments.
type NewLocation struct {
	District  string   `json:"district"`
	Township  string   `json:"township"`
	Address   string   `json:"address"`
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
}

// DispatchRequest names the departments to dispatch to; with several, Lead names the
// lead one (并联). With none, the ticket goes to the category's default department, else
// to the government of its location.
type DispatchRequest struct {
	Departments []string `json:"departments"`
	Lead        string   `json:"lead"`
	Note        string   `json:"note"`
}

func invalid(code, format string, args ...any) error {
	return api.Errorf(api.ErrInvalid, code, format, args...)
}

func checkText(field, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", invalid("empty_"+field, "%s is empty; it is required", field)
	}
	if !utf8.ValidString(s) {
		return "", invalid("invalid_"+field, "%s is not valid UTF-8 text", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", invalid(field+"_too_long", "%s is %d characters long; the limit is %d", field, n, max)
	}
	return s, nil
}

// Create registers a ticket (受理), and, when asked, answers it directly or dispatches it
// in the same transaction.
func (s *Store) Create(ctx context.Context, p *auth.Principal, in NewTicket) (*View, error) {
	if !p.Is(auth.RoleOperator, auth.RoleSupervisor, auth.RoleIntegrator) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only the central desk registers tickets")
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := &Ticket{Status: StatusRegistered, Version: 1, Open: true, RegisteredBy: p.Actor(), RegisteredAt: now, CreatedAt: now, UpdatedAt: now}

	if in.Channel == "" {
		in.Channel = ChannelPhone
	}
	if !in.Channel.Valid() {
		return nil, invalid("unknown_channel", "unknown channel %q; one of %v", in.Channel, channels)
	}
	t.Channel = in.Channel
	if in.Urgency == "" {
		in.Urgency = UrgencyNormal
	}
	if !in.Urgency.Valid() {
		return nil, invalid("unknown_urgency", "unknown urgency %q; one of normal, urgent, critical", in.Urgency)
	}
	t.Urgency = in.Urgency
	if t.Content, err = checkText("content", in.Content, MaxContentRunes, true); err != nil {
		return nil, err
	}
	if t.Title, err = checkText("title", in.Title, MaxTitleRunes, false); err != nil {
		return nil, err
	}
	if t.Title == "" {
		t.Title = summarize(t.Content, 30)
	}
	if strings.TrimSpace(in.Category) == "" {
		return nil, invalid("empty_category", "category is required")
	}
	cat, err := dir.category(in.Category)
	if err != nil {
		return nil, err
	}
	t.CategoryID = cat.ID

	c := in.Citizen
	if t.CitizenName, err = checkText("citizen name", c.Name, 64, false); err != nil {
		return nil, err
	}
	t.Anonymous = c.Anonymous
	t.WantsReply = c.WantsReply == nil || *c.WantsReply
	if raw := strings.TrimSpace(c.Phone); raw != "" {
		n, err := phone.Parse(raw)
		if err != nil {
			return nil, invalid("invalid_phone", "citizen phone %q is not a valid phone number: %v", raw, err)
		}
		t.CitizenPhone, t.PhoneKind = n.National, phoneKindOf(n.Kind)
	}
	if e := strings.TrimSpace(c.Email); e != "" {
		if len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " \r\n<>") {
			return nil, invalid("invalid_email", "citizen email %q is not a valid address", e)
		}
		t.CitizenEmail = e
	}

	l := in.Location
	if l.District != "" {
		d, err := dir.department(l.District)
		if err != nil {
			return nil, err
		}
		if d.Level != LevelDistrict || !d.Government {
			return nil, invalid("invalid_district", "location district %q (%s) is not a banner/district government", l.District, d.Name)
		}
		t.DistrictID = &d.ID
	}
	if l.Township != "" {
		d, err := dir.department(l.Township)
		if err != nil {
			return nil, err
		}
		if d.Level != LevelTownship {
			return nil, invalid("invalid_township", "location township %q (%s) is not a township or street", l.Township, d.Name)
		}
		if t.DistrictID != nil && !dir.within(d.ID, dir.depts[*t.DistrictID]) {
			return nil, invalid("invalid_township", "township %q is not in district %q", l.Township, l.District)
		}
		t.TownshipID = &d.ID
	}
	if t.Address, err = checkText("address", l.Address, 255, false); err != nil {
		return nil, err
	}
	if (l.Latitude == nil) != (l.Longitude == nil) {
		return nil, invalid("invalid_coordinates", "latitude and longitude come together")
	}
	if l.Latitude != nil && (*l.Latitude < -90 || *l.Latitude > 90 || *l.Longitude < -180 || *l.Longitude > 180) {
		return nil, invalid("invalid_coordinates", "coordinates %v,%v are out of range", *l.Latitude, *l.Longitude)
	}
	t.Latitude, t.Longitude = l.Latitude, l.Longitude
	if t.ExternalRef, err = checkText("external_ref", in.Ref, 255, false); err != nil {
		return nil, err
	}
	if t.Recording, err = checkText("recording", in.Record, 255, false); err != nil {
		return nil, err
	}
	note, err := checkText("note", in.Note, MaxNoteRunes, false)
	if err != nil {
		return nil, err
	}
	if in.Answer != "" && in.Dispatch != nil {
		return nil, invalid("answer_and_dispatch", "a ticket is either answered directly or dispatched, not both")
	}
	var answer string
	if in.Answer != "" {
		if dir.kindOf(cat) != KindConsultation {
			return nil, invalid("not_consultation", "only consultations can be answered directly; category %q is a %s", cat.Code, dir.kindOf(cat))
		}
		if answer, err = checkText("answer", in.Answer, MaxAnswerRunes, true); err != nil {
			return nil, err
		}
	}
	var plan *dispatchPlan
	if in.Dispatch != nil {
		if plan, err = s.planDispatch(dir, t, cat, *in.Dispatch); err != nil {
			return nil, err
		}
	}

	// The serial is taken in its own short transaction so that the counter row is not
	// held locked while the registration runs; a failed registration leaves a gap, which
	// is harmless.
	serial, err := s.nextSerial(ctx, now.In(s.opts.Location).Year())
	if err != nil {
		return nil, err
	}
	t.Number = FormatNumber(now.In(s.opts.Location).Year(), serial)

	// Build the whole registration in memory, then write it in one transaction.
	evs := []*Event{s.newEvent(t, now, p.Actor(), ActRegister, "", note, map[string]any{"channel": t.Channel, "category": cat.Code, "urgency": t.Urgency})}
	var as []*Assignment
	switch {
	case answer != "":
		from := t.Status
		t.Status, t.Open, t.Answer, t.CompletedAt = StatusCompleted, false, answer, &now
		evs = append(evs, s.newEvent(t, now, p.Actor(), ActAnswer, from, answer, nil))
	case plan != nil:
		var ev *Event
		if as, ev, err = s.applyDispatch(t, plan, now, p.Actor()); err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(t).Error; err != nil {
			return fmt.Errorf("insert ticket: %w", err)
		}
		for _, a := range as {
			a.TicketID = t.ID
		}
		for _, e := range evs {
			e.TicketID = t.ID
		}
		if len(as) > 0 {
			if err := tx.Create(as).Error; err != nil {
				return fmt.Errorf("insert assignments: %w", err)
			}
		}
		if err := tx.Create(evs).Error; err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		// With an Idempotency-Key, the key learns the number in this same transaction: a
		// client whose answer is lost to a crash gets this ticket on retry, not a second.
		return idempotency.Link(ctx, tx, t.Number)
	})
	if err != nil {
		return nil, fmt.Errorf("register ticket: %w", err)
	}
	v := s.view(dir, p, t, as)
	for _, e := range evs {
		v.Timeline = append(v.Timeline, s.eventView(dir, e))
	}
	if t.CitizenPhone != "" {
		dups, err := s.similar(ctx, t)
		if err != nil {
			s.opts.Log.WarnContext(ctx, "duplicate check failed", "ticket", t.Number, "err", err)
		}
		for _, d := range dups {
			v.PossibleDuplicates = append(v.PossibleDuplicates, d.Number)
		}
	}
	return v, nil
}

func (s *Store) nextSerial(ctx context.Context, year int) (int64, error) {
	name := fmt.Sprintf("ticket:%d", year)
	db := s.db.WithContext(ctx)
	for attempt := 0; attempt < 2; attempt++ {
		// One statement, outside the registration's transaction, so the counter row is
		// locked only for an instant; a failed registration leaves a harmless gap.
		var values []int64
		if err := db.Raw("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", name).Scan(&values).Error; err != nil {
			return 0, fmt.Errorf("next ticket serial: %w", err)
		}
		if len(values) == 1 {
			return values[0], nil
		}
		// First ticket of the year; two instances may race to create the row.
		if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&Counter{Name: name, Value: 0}).Error; err != nil {
			return 0, fmt.Errorf("create ticket counter: %w", err)
		}
	}
	return 0, fmt.Errorf("next ticket serial: counter %s missing", name)
}

func summarize(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// errNotFound is what a missing ticket — or one the viewer may not see — looks like.
func errNotFound(number string) error {
	return api.Errorf(api.ErrNotFound, "ticket_not_found", "ticket %s not found", number)
}

// load reads a ticket by number with its assignments; the caller checks visibility.
func (s *Store) load(ctx context.Context, db *gorm.DB, number string, forUpdate bool) (*Ticket, []*Assignment, error) {
	n := NormalizeNumber(number)
	if !CheckNumber(n) {
		return nil, nil, api.Errorf(api.ErrNotFound, "invalid_number", "%q is not a ticket number (wrong length or check digit)", number)
	}
	q := db.WithContext(ctx)
	if forUpdate && database.DialectOf(db) == database.Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var t Ticket
	if err := q.Where("number = ?", n).Take(&t).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, errNotFound(n)
		}
		return nil, nil, fmt.Errorf("load ticket %s: %w", n, err)
	}
	var as []*Assignment
	if err := db.WithContext(ctx).Where("ticket_id = ?", t.ID).Order("id").Find(&as).Error; err != nil {
		return nil, nil, fmt.Errorf("load assignments of %s: %w", n, err)
	}
	return &t, as, nil
}

// visible reports whether p may see a ticket with these assignments. Department users
// see only tickets dispatched to their department or its sub-units.
func visible(dir *directory, p *auth.Principal, as []*Assignment) bool {
	if p == nil {
		return false
	}
	if p.Role != auth.RoleDepartment {
		return p.Is(auth.RoleOperator, auth.RoleSupervisor, auth.RoleIntegrator)
	}
	dept, ok := dir.depts[p.DepartmentID]
	if !ok {
		return false
	}
	for _, a := range as {
		if dir.within(a.DepartmentID, dept) {
			return true
		}
	}
	return false
}

// Find returns a ticket with its timeline and attachments, as p may see it.
func (s *Store) Find(ctx context.Context, p *auth.Principal, number string) (*View, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	t, as, err := s.load(ctx, s.db, number, false)
	if err != nil {
		return nil, err
	}
	if !visible(dir, p, as) {
		// Not 403: a department must not learn which numbers exist elsewhere.
		return nil, errNotFound(t.Number)
	}
	var evs []Event
	if err := s.db.WithContext(ctx).Where("ticket_id = ?", t.ID).Order("seq").Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("load timeline of %s: %w", t.Number, err)
	}
	var atts []Attachment
	if err := s.db.WithContext(ctx).Where("ticket_id = ?", t.ID).Order("id").Find(&atts).Error; err != nil {
		return nil, fmt.Errorf("load attachments of %s: %w", t.Number, err)
	}
	v := s.view(dir, p, t, as)
	if t.MergedIntoID != nil {
		var into Ticket
		if err := s.db.WithContext(ctx).Select("number").Where("id = ?", *t.MergedIntoID).Take(&into).Error; err == nil {
			v.MergedInto = into.Number
		}
	}
	for i := range evs {
		v.Timeline = append(v.Timeline, s.eventView(dir, &evs[i]))
	}
	for _, a := range atts {
		v.Attachments = append(v.Attachments, AttachmentView{
			ID: a.ID, FileName: a.FileName, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256,
			UploadedBy: a.UploadedBy, CreatedAt: a.CreatedAt.In(s.opts.Location),
			URL: fmt.Sprintf("/api/v1/tickets/%s/attachments/%d", t.Number, a.ID),
		})
	}
	return v, nil
}

func (s *Store) in(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	x := t.In(s.opts.Location)
	return &x
}

func (s *Store) view(dir *directory, p *auth.Principal, t *Ticket, as []*Assignment) *View {
	v := &View{
		Number: t.Number, Channel: t.Channel, Status: t.Status, Version: t.Version,
		Citizen: CitizenView{Name: t.CitizenName, Phone: t.CitizenPhone, PhoneKind: t.PhoneKind, Email: t.CitizenEmail,
			Anonymous: t.Anonymous, WantsReply: t.WantsReply},
		Title: t.Title, Content: t.Content, Urgency: t.Urgency,
		Location: LocationView{District: dir.deptRef(t.DistrictID), Township: dir.deptRef(t.TownshipID), Address: t.Address,
			Latitude: t.Latitude, Longitude: t.Longitude},
		LeadDepartment: dir.deptRef(t.LeadDepartmentID),
		SignDueAt:      s.in(t.SignDueAt), DueAt: s.in(t.DueAt), Overdue: t.Overdue, OverdueAt: s.in(t.OverdueAt),
		RegisteredBy: t.RegisteredBy, RegisteredAt: t.RegisteredAt.In(s.opts.Location),
		DispatchedAt: s.in(t.DispatchedAt), CompletedAt: s.in(t.CompletedAt),
		Answer: t.Answer, RefusalReason: t.RefusalReason,
		ReopenCount: t.ReopenCount, UrgeCount: t.UrgeCount, ReturnCount: t.ReturnCount,
		ExternalRef: t.ExternalRef, Recording: t.Recording, UpdatedAt: t.UpdatedAt.In(s.opts.Location),
		Assignments: []AssignmentView{},
	}
	if c, ok := dir.cats[t.CategoryID]; ok {
		v.Category = CategoryRef{Code: c.Code, Name: c.Name, Kind: dir.kindOf(c)}
	}
	v.Late = late(t, s.now())
	if !seesPII(p) {
		v.Citizen.Phone = phone.Mask(t.CitizenPhone)
		v.Citizen.Email = maskEmail(t.CitizenEmail)
	}
	if t.Anonymous && p != nil && p.Role == auth.RoleDepartment {
		v.Citizen.Name = ""
	}
	if maskedToken(p) {
		v.Citizen.Name = maskName(v.Citizen.Name)
	}
	for _, a := range as {
		ref := dir.deptRef(&a.DepartmentID)
		v.Assignments = append(v.Assignments, AssignmentView{
			Department: *ref, Lead: a.Lead, Status: a.Status, DispatchedAt: a.DispatchedAt.In(s.opts.Location),
			SignDueAt: a.SignDueAt.In(s.opts.Location), DueAt: s.in(a.DueAt), SignedAt: s.in(a.SignedAt),
			RepliedAt: s.in(a.RepliedAt), Reply: a.Reply, ReturnReason: a.ReturnReason,
			ExtensionPending: extensionPending(a), ExtensionUntil: s.in(a.ExtensionUntil), ExtensionNote: a.ExtensionNote,
		})
	}
	v.Actions = s.allowed(dir, p, t, as)
	if v.Actions == nil {
		v.Actions = []Action{}
	}
	return v
}

func maskEmail(e string) string {
	at := strings.IndexByte(e, '@')
	if at <= 0 {
		return ""
	}
	return e[:1] + "***" + e[at:]
}

// late reports whether an open ticket is past a deadline now.
func late(t *Ticket, now time.Time) bool {
	if !t.Open {
		return false
	}
	if t.DueAt != nil && now.After(*t.DueAt) {
		return true
	}
	return t.Status == StatusDispatched && t.SignDueAt != nil && now.After(*t.SignDueAt)
}

func (s *Store) eventView(dir *directory, e *Event) EventView {
	ev := EventView{Seq: e.Seq, At: e.At.In(s.opts.Location), Actor: e.Actor, Action: e.Action, FromStatus: e.FromStatus,
		ToStatus: e.ToStatus, Department: dir.deptRef(e.DepartmentID), Note: e.Note, Hash: e.Hash}
	if e.Data != "" {
		_ = json.Unmarshal([]byte(e.Data), &ev.Data)
	}
	return ev
}

// phoneKindOf is a parsed number's kind as a ticket stores it.
func phoneKindOf(k phone.Kind) PhoneKind {
	switch k {
	case phone.Mobile:
		return PhoneMobile
	case phone.Landline:
		return PhoneLandline
	default:
		return PhoneOther
	}
}
