package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/phone"
)

// Filter selects tickets for a list. Empty fields do not filter.
type Filter struct {
	Status     []Status
	Department string // code: tickets dispatched to it or its sub-units
	Category   string // code: the category and its children
	Channel    Channel
	Overdue    *bool
	Open       *bool
	From, To   *time.Time // registration time, [From, To)
	Text       string     // a ticket number, a phone number, or a word in the title, content or address (see searchText)
	Phone      string     // the citizen's number (national format)

	// OnTime: completed no later than the deadline, extensions included (a ticket with no
	// deadline, a consultation answered at once, is on time); false: completed late.
	// Either way only completed tickets.
	OnTime *bool
	// LeadDepartment is a code: tickets whose lead department (主办单位) is that department
	// exactly, not one of its sub-units; None: tickets without one (not dispatched).
	LeadDepartment string
	// Event is a timeline action: tickets with at least one such event recorded in
	// [EventFrom, EventTo) and, with EventDepartment, by that department (a code: the
	// department that asked or returned, else the lead department; None: neither).
	Event              Action
	EventFrom, EventTo *time.Time
	EventDepartment    string
	// DueFirst orders by the nearest deadline (the sign-for deadline while dispatched,
	// then the handling deadline), tickets without one last, instead of newest first.
	DueFirst bool
	// District is a banner/district government's code: tickets whose matter is in that
	// district (the location's district, exactly); None: tickets without a district.
	District string
	// ExtensionPending: tickets with a department's extension request waiting for a
	// decision (延期待审批).
	ExtensionPending bool
}

// None is the value of Filter.LeadDepartment and Filter.District that asks for tickets
// without one. No department may take it as its code.
const None = "none"

// Summary is a ticket in a list: no timeline, no content beyond a snippet.
type Summary struct {
	Number         string         `json:"number"`
	Channel        Channel        `json:"channel"`
	Status         Status         `json:"status"`
	Version        int            `json:"version"`
	Title          string         `json:"title"`
	Category       CategoryRef    `json:"category"`
	Urgency        Urgency        `json:"urgency"`
	LeadDepartment *DepartmentRef `json:"lead_department,omitempty"`
	CitizenPhone   string         `json:"citizen_phone,omitempty"`
	SignDueAt      *time.Time     `json:"sign_due_at,omitempty"`
	DueAt          *time.Time     `json:"due_at,omitempty"`
	Late           bool           `json:"late"`
	Overdue        bool           `json:"overdue"`
	RegisteredAt   time.Time      `json:"registered_at"`
	CompletedAt    *time.Time     `json:"completed_at,omitempty"`
}

// List returns one page of tickets p may see, newest first, and whether more follow.
// It does not count all matches: on a million tickets a count costs more than the page.
func (s *Store) List(ctx context.Context, p *auth.Principal, f Filter, page api.Page) ([]Summary, bool, error) {
	dir, q, err := s.filtered(ctx, p, f)
	if err != nil {
		return nil, false, err
	}
	var ts []*Ticket
	switch {
	case f.DueFirst:
		ts, err = pageOf(q, page, dueOrder)
	case s.wordOnPostgres(f):
		ts, err = s.wordPage(q, f, page)
	default:
		ts, err = pageOf(q, page, "created_at DESC")
	}
	if err != nil {
		return nil, false, fmt.Errorf("list tickets: %w", err)
	}
	more := len(ts) > page.PerPage
	if more {
		ts = ts[:page.PerPage]
	}
	return s.summaries(p, dir, ts), more, nil
}

// Each hands every ticket p may see that f matches to fn, newest first, a batch of
// summaries at a time. It reads by keyset (created_at, id) rather than by offsets, so
// that a download of a hundred thousand tickets costs each batch the same.
func (s *Store) Each(ctx context.Context, p *auth.Principal, f Filter, fn func([]Summary) error) error {
	batch := eachBatch
	var last *Ticket
	for {
		dir, q, err := s.filtered(ctx, p, f)
		if err != nil {
			return err
		}
		if last != nil {
			// The bound on created_at alone lets its index start where the last batch ended.
			q = q.Where("created_at <= ? AND (created_at < ? OR id < ?)", last.CreatedAt, last.CreatedAt, last.ID)
		}
		ts, err := pageOf(q, api.Page{Page: 1, PerPage: batch - 1}, "created_at DESC")
		if err != nil {
			return fmt.Errorf("read tickets: %w", err)
		}
		if len(ts) == 0 {
			return nil
		}
		if err := fn(s.summaries(p, dir, ts)); err != nil {
			return err
		}
		if len(ts) < batch {
			return nil
		}
		last = ts[len(ts)-1]
	}
}

// eachBatch is how many tickets Each reads at a time (a variable for the tests).
var eachBatch = 1000

// summaries are ts as a list shows them to p.
func (s *Store) summaries(p *auth.Principal, dir *directory, ts []*Ticket) []Summary {
	now := s.now()
	out := make([]Summary, 0, len(ts))
	for _, t := range ts {
		sm := Summary{Number: t.Number, Channel: t.Channel, Status: t.Status, Version: t.Version, Title: t.Title,
			Urgency: t.Urgency, LeadDepartment: dir.deptRef(t.LeadDepartmentID), CitizenPhone: t.CitizenPhone,
			SignDueAt: s.in(t.SignDueAt), DueAt: s.in(t.DueAt), Late: late(t, now), Overdue: t.Overdue,
			RegisteredAt: t.RegisteredAt.In(s.opts.Location), CompletedAt: s.in(t.CompletedAt)}
		if c, ok := dir.cats[t.CategoryID]; ok {
			sm.Category = CategoryRef{Code: c.Code, Name: c.Name, Kind: dir.kindOf(c)}
		}
		if !seesPII(p) {
			sm.CitizenPhone = phone.Mask(sm.CitizenPhone)
		}
		out = append(out, sm)
	}
	return out
}

// pageOf reads one page of q's tickets in the order orderBy, then by id, both descending,
// and one more if there is one.
// dueAt is a ticket's next deadline: the sign-for deadline while it waits to be signed
// for, then the handling deadline.
const dueAt = `CASE WHEN status = 'dispatched' AND sign_due_at IS NOT NULL THEN sign_due_at ELSE due_at END`

// dueOrder is Filter.DueFirst's order, nearest first and none last, which the index
// idx_tickets_open_due serves for open tickets (with pageOf's id DESC).
const dueOrder = dueAt + ` ASC NULLS LAST`

func pageOf(q *gorm.DB, page api.Page, orderBy string) ([]*Ticket, error) {
	var ts []*Ticket
	err := q.Select("id", "number", "channel", "status", "version", "title", "category_id", "urgency", "lead_department_id",
		"citizen_phone", "sign_due_at", "due_at", "overdue", "open", "registered_at", "completed_at", "created_at").
		Order(orderBy).Order("id DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&ts).Error
	return ts, err
}

// wordWindows are how far back wordPage looks first, in turn: a few days, which fill a
// page for a word common across the city, then a month, for a word common in a
// department's tickets, which are a few of the city's.
var wordWindows = []time.Duration{3 * 24 * time.Hour, 30 * 24 * time.Hour}

// wordPage is List's page for a word on PostgreSQL. PostgreSQL can read the tickets
// newest first until a page of them matches, which is quick for a common word (a
// district's name) but reads most of the table, one ticket at a time, for a rare one;
// or find every match through the word indexes (trigrams, or characters and pairs for
// a short word) and sort them, which is quick for a rare word but slow for a common
// one. Its statistics cannot tell the two apart well (a word in one ticket of a
// thousand is taken for the first kind). So wordPage first looks at the last days: a
// bounded read that fills the page for a common word, and then is the answer, as every
// older ticket comes after it. Only when the page does not fill does it look for all
// the matches, which are then few.
//
// A word of one or two characters has no index in the windows: there PostgreSQL would
// compute ticket_grams for every ticket the LIKE passes, tens of microseconds each. A
// rare one (see classifyShortWord) skips the month, which it would read ticket by ticket for
// nothing, and looks for all its matches in the index; a common one, which the month
// fills but the index does not help, is read as before.
func (s *Store) wordPage(q *gorm.DB, f Filter, page api.Page) ([]*Ticket, error) {
	q = q.Session(&gorm.Session{})
	all, indexed := q, false
	for i, w := range wordWindows {
		if indexed {
			break
		}
		ts, err := pageOf(q.Where("created_at >= ?", s.now().Add(-w).UTC()), page, "created_at DESC")
		if err != nil || len(ts) > page.PerPage {
			return ts, err
		}
		if i == 0 {
			// Only now, when the last days did not fill the page, is it worth asking
			// PostgreSQL whether a short word is rare.
			if all, indexed, err = s.withShortWord(q, f); err != nil {
				return nil, err
			}
		}
	}
	// Adding nothing to created_at hides the order from its index, so that the planner
	// does not read the tickets newest first again.
	return pageOf(all, page, "created_at + interval '0 seconds' DESC")
}

// wordOnPostgres reports whether f searches for a word, on PostgreSQL.
func (s *Store) wordOnPostgres(f Filter) bool {
	if database.DialectOf(s.db) != database.Postgres {
		return false
	}
	txt := strings.TrimSpace(f.Text)
	kind, _, _ := textKind(txt)
	return txt != "" && kind == textWord
}

// Tally is a bounded count of the tickets that match a filter (see Store.Tally).
type Tally struct {
	// Counted is the number of matching tickets, at most the limit; More says that more
	// match.
	Counted int
	More    bool
	// CompletedSince is how many of the counted tickets were completed at or after the
	// time asked for.
	CompletedSince int
}

// Tally counts the tickets p may see that match f, the newest limit of them at most,
// and how many of those were completed at or after completedSince, in one statement: a
// badge's figure without reading the tickets page by page, and without counting a
// whole table.
func (s *Store) Tally(ctx context.Context, p *auth.Principal, f Filter, limit int, completedSince time.Time) (Tally, error) {
	if limit < 1 {
		return Tally{}, invalid("invalid_limit", "a tally needs a limit of at least 1, not %d", limit)
	}
	_, q, err := s.filtered(ctx, p, f)
	if err != nil {
		return Tally{}, err
	}
	q, _, err = s.withShortWord(q, f)
	if err != nil {
		return Tally{}, err
	}
	newest := q.Select("completed_at", "ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS rn").
		Order("created_at DESC").Order("id DESC").Limit(limit + 1)
	var row struct {
		Matched, Completed int
	}
	err = s.db.WithContext(ctx).Table("(?) AS newest", newest).
		Select("COUNT(*) AS matched, COUNT(CASE WHEN rn <= ? AND completed_at >= ? THEN 1 END) AS completed", limit, completedSince.UTC()).
		Scan(&row).Error
	if err != nil {
		return Tally{}, fmt.Errorf("tally tickets: %w", err)
	}
	return Tally{Counted: min(row.Matched, limit), More: row.Matched > limit, CompletedSince: row.Completed}, nil
}

// filtered is the query of the tickets p may see that match f, with the directory it
// was checked against.
func (s *Store) filtered(ctx context.Context, p *auth.Principal, f Filter) (*directory, *gorm.DB, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, nil, err
	}
	q := s.db.WithContext(ctx).Model(&Ticket{})
	var deptIDs []uint
	switch {
	case p == nil:
		return nil, nil, api.Errorf(api.ErrUnauthorized, "unauthorized", "log in first")
	case p.Role == auth.RoleDepartment:
		own, ok := dir.depts[p.DepartmentID]
		if !ok {
			return nil, nil, api.Errorf(api.ErrForbidden, "no_department", "your account is not bound to a department")
		}
		deptIDs = dir.subtree(own)
		if f.Department != "" {
			d, err := dir.department(f.Department)
			if err != nil {
				return nil, nil, err
			}
			if !dir.within(d.ID, own) {
				return nil, nil, api.Errorf(api.ErrForbidden, "other_department", "department %s is not yours or one of your sub-units", d.Code)
			}
			deptIDs = dir.subtree(d)
		}
	case p.Is(auth.RoleOperator, auth.RoleSupervisor, auth.RoleIntegrator):
		if f.Department != "" {
			d, err := dir.department(f.Department)
			if err != nil {
				return nil, nil, err
			}
			deptIDs = dir.subtree(d)
		}
	default:
		return nil, nil, api.Errorf(api.ErrForbidden, "forbidden", "a %s may not list tickets", p.Role)
	}
	if deptIDs != nil {
		q = q.Where("EXISTS (SELECT 1 FROM assignments a WHERE a.ticket_id = tickets.id AND a.department_id IN ?)", deptIDs)
	}
	if f.ExtensionPending {
		q = q.Where(boolIs("open", true)+" AND EXISTS (SELECT 1 FROM assignments a WHERE a.ticket_id = tickets.id AND "+
			boolIs("a.extension_pending", true)+" AND a.status NOT IN ?)", []AssignmentStatus{AssignClosed, AssignDelegated})
	}
	// The lead department and the district narrow what p may see; they never widen it:
	// a department user's scope above still applies.
	if f.LeadDepartment != "" {
		if f.LeadDepartment == None {
			q = q.Where("lead_department_id IS NULL")
		} else {
			// Inactive departments too: they still lead the tickets they had.
			d, ok := dir.deptCode[strings.TrimSpace(f.LeadDepartment)]
			if !ok {
				return nil, nil, invalid("unknown_lead_department", "unknown lead department %q; a department code, or %q for tickets without one", f.LeadDepartment, None)
			}
			q = q.Where("lead_department_id = ?", d.ID)
		}
	}
	if f.District != "" {
		if f.District == None {
			q = q.Where("district_id IS NULL")
		} else {
			d, ok := dir.deptCode[strings.TrimSpace(f.District)]
			if !ok {
				return nil, nil, invalid("unknown_district", "unknown district %q; a banner/district government's code, or %q for tickets without one", f.District, None)
			}
			if d.Level != LevelDistrict || !d.Government {
				return nil, nil, invalid("invalid_district", "district %q (%s) is not a banner/district government", f.District, d.Name)
			}
			q = q.Where("district_id = ?", d.ID)
		}
	}
	if f.Event != "" {
		if !slices.Contains(Actions, f.Event) && f.Event != ActRegister {
			return nil, nil, invalid("unknown_event", "unknown event %q; one of %v", f.Event, Actions)
		}
		cond, args := "e.ticket_id = tickets.id AND e.action = ?", []any{f.Event}
		if f.EventFrom != nil {
			cond, args = cond+" AND e.at >= ?", append(args, f.EventFrom.UTC())
		}
		if f.EventTo != nil {
			cond, args = cond+" AND e.at < ?", append(args, f.EventTo.UTC())
		}
		switch code := strings.TrimSpace(f.EventDepartment); code {
		case "":
		case None:
			cond += " AND COALESCE(e.department_id, tickets.lead_department_id) IS NULL"
		default:
			d, ok := dir.deptCode[code]
			if !ok {
				return nil, nil, invalid("unknown_event_department", "unknown event department %q; a department code, or %q", code, None)
			}
			cond, args = cond+" AND COALESCE(e.department_id, tickets.lead_department_id) = ?", append(args, d.ID)
		}
		q = q.Where("EXISTS (SELECT 1 FROM events e WHERE "+cond+")", args...)
	} else if f.EventFrom != nil || f.EventTo != nil || f.EventDepartment != "" {
		return nil, nil, invalid("event_missing", "event_from, event_to and event_department need event (an action such as return)")
	}
	if len(f.Status) > 0 {
		for _, st := range f.Status {
			if !st.Valid() {
				return nil, nil, invalid("unknown_status", "unknown status %q; one of %v", st, Statuses)
			}
		}
		q = q.Where("status IN ?", f.Status)
	}
	if f.Category != "" {
		c, ok := dir.catCode[f.Category]
		if !ok {
			return nil, nil, invalid("unknown_category", "unknown category %q", f.Category)
		}
		var ids []uint
		for id, x := range dir.cats {
			for _, anc := range dir.categoryChain(x) {
				if anc.ID == c.ID {
					ids = append(ids, id)
					break
				}
			}
		}
		q = q.Where("category_id IN ?", ids)
	}
	if f.Channel != "" {
		if !f.Channel.Valid() {
			return nil, nil, invalid("unknown_channel", "unknown channel %q; one of %v", f.Channel, channels)
		}
		q = q.Where("channel = ?", f.Channel)
	}
	// The flags are written into the statement, not bound: a prepared statement's generic
	// plan would not know which half of the table it reads (the open tickets are a few
	// per cent of them) and could scan every ticket for a department's inbox.
	if f.Overdue != nil {
		q = q.Where(boolIs("overdue", *f.Overdue))
	}
	if f.Open != nil {
		q = q.Where(boolIs("open", *f.Open))
	}
	if f.OnTime != nil {
		q = q.Where("status = ?", StatusCompleted)
		if *f.OnTime {
			q = q.Where("(due_at IS NULL OR completed_at <= due_at)")
		} else {
			q = q.Where("completed_at > due_at")
		}
	}
	if f.From != nil {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if f.Phone != "" {
		if err := checkPhoneSearch(p); err != nil {
			return nil, nil, err
		}
		q = q.Where(phoneIs(q, f.Phone))
	}
	if txt := strings.TrimSpace(f.Text); txt != "" {
		if len([]rune(txt)) > 100 {
			return nil, nil, invalid("text_too_long", "search text is over 100 characters")
		}
		switch kind, num, _ := textKind(txt); {
		case kind == textPhone:
			if err := checkPhoneSearch(p); err != nil {
				return nil, nil, err
			}
			q = s.searchText(q, txt)
		case kind == textNumberOrPhone && maskedToken(p):
			q = q.Where("number = ?", num) // the ticket, not the citizen's other tickets
		default:
			q = s.searchText(q, txt)
		}
	}
	return dir, q, nil
}

// searchText narrows q to the tickets that Filter.Text finds.
//
// A ticket number (with a right check digit) finds that ticket, and a phone number the
// citizen's tickets: both by their indexes, not as words, so a number no longer matches
// titles or contents that happen to contain its digits. A number that is both finds both.
//
// Anything else is a word in the title, content or address. On PostgreSQL a word of
// three or more characters uses the trigram indexes (pg_trgm, see migrateTextSearch);
// a shorter one has no trigram, and a query that looks for all its matches rather than
// the newest adds withShortWord's condition.
func (s *Store) searchText(q *gorm.DB, txt string) *gorm.DB {
	kind, num, tel := textKind(txt)
	switch kind {
	case textNumberOrPhone:
		return q.Where("(number = ? OR ?)", num, phoneIs(q, tel))
	case textNumber:
		return q.Where("number = ?", num)
	case textPhone:
		return q.Where(phoneIs(q, tel))
	}
	like := "%" + escapeLike(txt) + "%"
	if utf8.RuneCountInString(txt) > shortWord {
		return q.Where("(title LIKE ? ESCAPE '\\' OR content LIKE ? ESCAPE '\\' OR address LIKE ? ESCAPE '\\')", like, like, like)
	}
	// Appending nothing to the columns keeps PostgreSQL from choosing the trigram
	// indexes, which hold nothing for a short word and would return every ticket.
	return q.Where("((title || '') LIKE ? ESCAPE '\\' OR (content || '') LIKE ? ESCAPE '\\' OR (address || '') LIKE ? ESCAPE '\\')", like, like, like)
}

// withShortWord narrows q, which searches f.Text, by the index of characters and pairs
// of characters (see migrateShortWords) if f.Text is a rare word of one or two
// characters on PostgreSQL (see classifyShortWord), and says whether it did. The index lists
// exactly the tickets that hold the word (a character or a pair is one of its entries),
// so the search's LIKE stays as the condition where it is not used.
func (s *Store) withShortWord(q *gorm.DB, f Filter) (*gorm.DB, bool, error) {
	short, rare, err := s.classifyShortWord(q.Statement.Context, f)
	if err != nil || !short || !rare {
		return q, false, err
	}
	return q.Where(gramsOf+" @> ARRAY[?]::text[]", strings.TrimSpace(f.Text)), true, nil
}

// commonShare is the share of the tickets above which a short word counts as common.
const commonShare = 0.05

// classifyShortWord reports whether f.Text is a word of one or two characters on PostgreSQL,
// and whether it is rare: in at most commonShare of the tickets, by PostgreSQL's
// statistics of the index.
//
// Only a rare one is looked up in the index. A common one (反映, 问题) would list most of
// the tickets, and the planner then rather reads the tickets of the department asked
// for one by one, computing ticket_grams for every ticket the LIKE passes: tens of
// microseconds each, seconds for a department. Without the index's condition the
// same read tests the LIKE alone, a microsecond a ticket.
func (s *Store) classifyShortWord(ctx context.Context, f Filter) (short, rare bool, err error) {
	txt := strings.TrimSpace(f.Text)
	if database.DialectOf(s.db) != database.Postgres || txt == "" || utf8.RuneCountInString(txt) > shortWord {
		return false, false, nil
	}
	if kind, _, _ := textKind(txt); kind != textWord {
		return false, false, nil
	}
	var plan string
	err = s.db.WithContext(ctx).Raw("EXPLAIN (FORMAT JSON) SELECT 1 FROM tickets WHERE "+gramsOf+" @> ARRAY[?]::text[]", txt).Row().Scan(&plan)
	if err != nil {
		return true, false, fmt.Errorf("estimate the tickets with %q: %w", txt, err)
	}
	var est []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	var all float64
	err = s.db.WithContext(ctx).Raw("SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = to_regclass('tickets')").Row().Scan(&all)
	if err != nil {
		return true, false, fmt.Errorf("estimate the tickets: %w", err)
	}
	if err := json.Unmarshal([]byte(plan), &est); err != nil || len(est) == 0 {
		return true, false, fmt.Errorf("estimate the tickets with %q: %s: %w", txt, plan, err)
	}
	return true, est[0].Plan.Rows <= commonShare*all || all == 0, nil
}

// What a search text is.
const (
	textWord = iota
	textNumber
	textPhone
	textNumberOrPhone // a ticket number that is also a phone number
)

// textKind tells what txt is, with the ticket number and the phone number (national
// format, as stored) it is.
func textKind(txt string) (kind int, number, tel string) {
	number = NormalizeNumber(txt)
	isNumber := CheckNumber(number)
	ph, err := phone.Parse(txt)
	// Short codes (110, 12345) are not a citizen's number, and are searched as words.
	isPhone := err == nil && ph.E164 != ""
	switch {
	case isNumber && isPhone:
		return textNumberOrPhone, number, ph.National
	case isNumber:
		return textNumber, number, ""
	case isPhone:
		return textPhone, "", ph.National
	}
	return textWord, "", ""
}

// shortWord is the longest word, in characters, that the trigram indexes cannot serve.
const shortWord = 2

// boolIs is the condition that column is v, with v written out.
func boolIs(column string, v bool) string {
	if v {
		return column + " = TRUE"
	}
	return column + " = FALSE"
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// similar lists earlier tickets of the same citizen, within the duplicate window, whose
// content is close to t's: candidates for merging as duplicates (重复件).
func (s *Store) similar(ctx context.Context, t *Ticket) ([]Duplicate, error) {
	since := t.CreatedAt.Add(-s.opts.DuplicateWindow)
	var cands []Ticket
	err := s.db.WithContext(ctx).Select("id", "number", "status", "title", "content", "registered_at").
		Where(phoneIs(s.db, t.CitizenPhone)).Where("id <> ? AND created_at >= ? AND status <> ?", t.ID, since, StatusMerged).
		Order("created_at DESC").Limit(50).Find(&cands).Error
	if err != nil {
		return nil, fmt.Errorf("find similar tickets: %w", err)
	}
	var out []Duplicate
	for _, c := range cands {
		if similarity(t.Title+" "+t.Content, c.Title+" "+c.Content) >= 0.35 {
			out = append(out, Duplicate{Number: c.Number, Status: c.Status, Title: c.Title, Content: c.Content,
				RegisteredAt: c.RegisteredAt.In(s.opts.Location)})
		}
	}
	return out, nil
}

// Duplicate is a possible duplicate of a ticket (重复件): the same caller, a similar text,
// within the duplicate window; the desk compares them side by side before merging.
type Duplicate struct {
	Number       string
	Status       Status
	Title        string
	Content      string
	RegisteredAt time.Time
}

// Similar is the duplicate suggestion for an existing ticket: the numbers of
// SimilarTickets.
func (s *Store) Similar(ctx context.Context, p *auth.Principal, number string) ([]string, error) {
	ds, err := s.SimilarTickets(ctx, p, number)
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Number)
	}
	return out, err
}

// SimilarTickets are the possible duplicates of a ticket, newest first.
func (s *Store) SimilarTickets(ctx context.Context, p *auth.Principal, number string) ([]Duplicate, error) {
	if !p.Is(auth.RoleOperator, auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only the central desk looks for duplicates")
	}
	t, _, err := s.load(ctx, s.db, number, false)
	if err != nil {
		return nil, err
	}
	if t.CitizenPhone == "" {
		return nil, nil
	}
	return s.similar(ctx, t)
}

// similarity is the Jaccard index of the texts' character bigrams: it works for Chinese,
// which has no spaces between words, and is cheap.
func similarity(a, b string) float64 {
	ga, gb := bigrams(a), bigrams(b)
	if len(ga) == 0 || len(gb) == 0 {
		return 0
	}
	inter := 0
	for g := range ga {
		if gb[g] {
			inter++
		}
	}
	return float64(inter) / float64(len(ga)+len(gb)-inter)
}

func bigrams(s string) map[string]bool {
	var rs []rune
	for _, r := range strings.ToLower(s) {
		if r == ' ' || r == '\n' || r == '\t' || r == '，' || r == '。' || r == ',' || r == '.' {
			continue
		}
		rs = append(rs, r)
	}
	out := make(map[string]bool, len(rs))
	for i := 0; i+1 < len(rs); i++ {
		out[string(rs[i:i+2])] = true
	}
	return out
}

// Texts are what a ticket asked and what it was told, for lists that show them beside
// other records (the manual callback cards).
type Texts struct {
	Title, Content, Answer string
}

// TextsOf returns the texts of the tickets with these numbers, by number, in one query.
// Only the central desk reads them so: a department sees its tickets one by one.
func (s *Store) TextsOf(ctx context.Context, p *auth.Principal, numbers []string) (map[string]Texts, error) {
	if !p.Is(auth.RoleOperator, auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only the central desk reads tickets in bulk")
	}
	out := make(map[string]Texts, len(numbers))
	if len(numbers) == 0 {
		return out, nil
	}
	var ts []Ticket
	if err := s.db.WithContext(ctx).Select("number", "title", "content", "answer").Where("number IN ?", numbers).Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("texts of %d tickets: %w", len(numbers), err)
	}
	for _, t := range ts {
		out[t.Number] = Texts{Title: t.Title, Content: t.Content, Answer: t.Answer}
	}
	return out, nil
}
