package dashboards

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// BulletinKind is how often a bulletin (通报) comes out.
type BulletinKind string

const (
	BulletinDaily     BulletinKind = "daily"
	BulletinWeekly    BulletinKind = "weekly"
	BulletinMonthly   BulletinKind = "monthly"
	BulletinQuarterly BulletinKind = "quarterly"
	BulletinAnnual    BulletinKind = "annual"
)

var bulletinPeriods = map[BulletinKind]struct {
	period PeriodKind
	name   string
}{
	BulletinDaily: {PeriodToday, "日报"}, BulletinWeekly: {PeriodWeek, "周报"}, BulletinMonthly: {PeriodMonth, "月报"},
	BulletinQuarterly: {PeriodQuarter, "季报"}, BulletinAnnual: {PeriodYear, "年报"},
}

// NotableCase is a ticket a bulletin names: urged, reopened, or long overdue.
type NotableCase struct {
	Number     string `json:"number"`
	Title      string `json:"title"`
	Department string `json:"department"`
	Status     string `json:"status"`
	Urges      int    `json:"urges"`
	Reopened   int    `json:"reopened"`
	Overdue    bool   `json:"overdue"`
	Why        string `json:"why"`
}

// Bulletin is a periodic bulletin built from the figures: the totals and calls, the
// figures by department and channel, the three rates ranking, the service-standard
// panel, the cards issued in the period and notable cases.
type Bulletin struct {
	Kind         BulletinKind      `json:"kind"`
	Title        string            `json:"title"`
	Period       Period            `json:"period"`
	GeneratedAt  time.Time         `json:"generated_at"`
	Figures      *FigureSet        `json:"figures"`
	ByChannel    []Figures         `json:"by_channel"`
	Ranking      *Ranking          `json:"ranking"`
	Standard     *StandardPanel    `json:"standard"`
	Cards        []DepartmentCards `json:"cards"`
	Supervisions int64             `json:"supervisions"`
	Notable      []NotableCase     `json:"notable"`
}

// maxNotable bounds the notable cases of a bulletin: it is read, not searched.
const maxNotable = 10

// Bulletin builds the bulletin of kind for the period containing at.
func (s *Service) Bulletin(ctx context.Context, who *auth.Principal, kind BulletinKind, at time.Time) (*Bulletin, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors issue bulletins")
	}
	bk, ok := bulletinPeriods[kind]
	if !ok {
		return nil, api.Errorf(api.ErrNotFound, "unknown_bulletin", "no %q bulletin; one of daily, weekly, monthly, quarterly, annual", kind)
	}
	p, err := PeriodOf(bk.period, at, "", "", s.opts.Location)
	if err != nil {
		return nil, err
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	b := &Bulletin{Kind: kind, Period: p, GeneratedAt: s.now().In(s.opts.Location)}
	b.Title = fmt.Sprintf("%s 热线工作%s", periodTitle(p), bk.name)
	if b.Figures, err = s.figures(ctx, dir, p, GroupDepartment); err != nil {
		return nil, err
	}
	byChannel, err := s.figures(ctx, dir, p, GroupChannel)
	if err != nil {
		return nil, err
	}
	b.ByChannel = byChannel.Groups
	if b.Ranking, err = s.ranking(ctx, dir, p); err != nil {
		return nil, err
	}
	if b.Standard, err = s.standard(ctx, p); err != nil {
		return nil, err
	}
	if b.Cards, err = s.cardsIn(ctx, dir, p); err != nil {
		return nil, err
	}
	if err := s.read.WithContext(ctx).Model(&Supervision{}).Where("date >= ? AND date < ?",
		p.From.Format(time.DateOnly), p.To.Format(time.DateOnly)).Count(&b.Supervisions).Error; err != nil {
		return nil, fmt.Errorf("dashboards: count supervisions: %w", err)
	}
	if b.Notable, err = s.notable(ctx, dir, p); err != nil {
		return nil, err
	}
	return b, nil
}

// periodTitle names a period the way bulletins are headed.
func periodTitle(p Period) string {
	f, last := p.From, p.To.AddDate(0, 0, -1)
	switch p.Kind {
	case PeriodToday:
		return f.Format("2006年1月2日")
	case PeriodMonth:
		return f.Format("2006年1月")
	case PeriodQuarter:
		return fmt.Sprintf("%d年第%d季度", f.Year(), (int(f.Month())-1)/3+1)
	case PeriodYear:
		return fmt.Sprintf("%d年", f.Year())
	}
	return f.Format("2006年1月2日") + "至" + last.Format("1月2日")
}

// cardsIn are the cards whose cause fell in p, per department, not revoked.
func (s *Service) cardsIn(ctx context.Context, dir *directory, p Period) ([]DepartmentCards, error) {
	var cs []Card
	if err := s.read.WithContext(ctx).Where("cause_at >= ? AND cause_at < ? AND revoked_at IS NULL", p.From.UTC(), p.To.UTC()).
		Order("cause_at, id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("dashboards: cards of the period: %w", err)
	}
	by := map[uint]*DepartmentCards{}
	for _, c := range cs {
		d, ok := by[c.DepartmentID]
		if !ok {
			d = &DepartmentCards{}
			if x := dir.depts[c.DepartmentID]; x != nil {
				d.Department, d.Name = x.Code, x.Name
			}
			by[c.DepartmentID] = d
		}
		if c.Color == Red {
			d.Red++
		} else {
			d.Yellow++
		}
		d.Cards = append(d.Cards, s.cardView(dir, &c))
	}
	out := make([]DepartmentCards, 0, len(by))
	for _, d := range by {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Red != out[j].Red {
			return out[i].Red > out[j].Red
		}
		if out[i].Yellow != out[j].Yellow {
			return out[i].Yellow > out[j].Yellow
		}
		return out[i].Department < out[j].Department
	})
	return out, nil
}

// notable picks the period's most urged, reopened or still-overdue tickets.
func (s *Service) notable(ctx context.Context, dir *directory, p Period) ([]NotableCase, error) {
	var ts []tickets.Ticket
	err := s.read.WithContext(ctx).Select("id", "number", "title", "status", "lead_department_id", "urge_count", "reopen_count", "overdue", "open").
		Where("created_at >= ? AND created_at < ? AND (urge_count > 0 OR reopen_count > 0 OR (open = ? AND overdue = ?))",
			p.From.UTC(), p.To.UTC(), true, true).
		Order("urge_count DESC").Order("reopen_count DESC").Order("id").Limit(maxNotable).Find(&ts).Error
	if err != nil {
		return nil, fmt.Errorf("dashboards: notable cases: %w", err)
	}
	out := make([]NotableCase, 0, len(ts))
	for _, t := range ts {
		n := NotableCase{Number: t.Number, Title: t.Title, Status: string(t.Status), Urges: t.UrgeCount, Reopened: t.ReopenCount,
			Overdue: t.Open && t.Overdue}
		if t.LeadDepartmentID != nil {
			if d := dir.depts[*t.LeadDepartmentID]; d != nil {
				n.Department = d.Name
			}
		}
		var why []string
		if n.Urges > 0 {
			why = append(why, fmt.Sprintf("督办%d次", n.Urges))
		}
		if n.Reopened > 0 {
			why = append(why, fmt.Sprintf("重办%d次", n.Reopened))
		}
		if n.Overdue {
			why = append(why, "超期未办结")
		}
		n.Why = strings.Join(why, "，")
		out = append(out, n)
	}
	return out, nil
}

// BriefKind is a special report (专报) or a brief (简报).
type BriefKind string

const (
	BriefSpecial BriefKind = "special"
	BriefShort   BriefKind = "brief"
)

// BriefRequest drafts a report from chosen tickets.
type BriefRequest struct {
	Kind    BriefKind `json:"kind"`
	Title   string    `json:"title"`
	Note    string    `json:"note,omitempty"`
	Tickets []string  `json:"tickets"`
}

// BriefCase is one ticket in a report draft; the citizen's number is masked.
type BriefCase struct {
	Number       string    `json:"number"`
	Title        string    `json:"title"`
	Category     string    `json:"category"`
	Department   string    `json:"department,omitempty"`
	Status       string    `json:"status"`
	RegisteredAt time.Time `json:"registered_at"`
	Citizen      string    `json:"citizen,omitempty"`
	Content      string    `json:"content"`
	Answer       string    `json:"answer,omitempty"`
	Urges        int       `json:"urges"`
}

// Brief is a draft special report or brief, to be edited and sent by people.
type Brief struct {
	Kind        BriefKind   `json:"kind"`
	Title       string      `json:"title"`
	Note        string      `json:"note,omitempty"`
	GeneratedAt time.Time   `json:"generated_at"`
	Cases       []BriefCase `json:"cases"`
}

// maxBriefTickets keeps a draft readable.
const maxBriefTickets = 50

// DraftBrief drafts a special report or brief from the tickets named, in their order.
func (s *Service) DraftBrief(ctx context.Context, who *auth.Principal, in BriefRequest) (*Brief, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors draft reports")
	}
	if in.Kind != BriefSpecial && in.Kind != BriefShort {
		return nil, api.Errorf(api.ErrInvalid, "invalid_kind", "kind must be special (专报) or brief (简报), not %q", in.Kind)
	}
	title := strings.TrimSpace(in.Title)
	if title == "" || len([]rune(title)) > 200 {
		return nil, api.Errorf(api.ErrInvalid, "invalid_title", "title is required, at most 200 characters")
	}
	if len([]rune(in.Note)) > 20000 {
		return nil, api.Errorf(api.ErrInvalid, "note_too_long", "note is over 20000 characters")
	}
	if len(in.Tickets) == 0 || len(in.Tickets) > maxBriefTickets {
		return nil, api.Errorf(api.ErrInvalid, "invalid_tickets", "name 1 to %d tickets", maxBriefTickets)
	}
	numbers := make([]string, len(in.Tickets))
	for i, n := range in.Tickets {
		numbers[i] = tickets.NormalizeNumber(n)
	}
	var ts []tickets.Ticket
	if err := s.read.WithContext(ctx).Where("number IN ?", numbers).Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("dashboards: load tickets for a brief: %w", err)
	}
	byNumber := map[string]*tickets.Ticket{}
	for i := range ts {
		byNumber[ts[i].Number] = &ts[i]
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	b := &Brief{Kind: in.Kind, Title: title, Note: strings.TrimSpace(in.Note), GeneratedAt: s.now().In(s.opts.Location)}
	for _, n := range numbers {
		t, ok := byNumber[n]
		if !ok {
			return nil, api.Errorf(api.ErrInvalid, "unknown_ticket", "no ticket %s", n)
		}
		c := BriefCase{Number: t.Number, Title: t.Title, Status: string(t.Status), RegisteredAt: t.RegisteredAt.In(s.opts.Location),
			Content: t.Content, Answer: t.Answer, Urges: t.UrgeCount, Citizen: strings.TrimSpace(pseudonymOrEmpty(t.CitizenName) + " " + phone.Mask(t.CitizenPhone))}
		if cat := dir.cats[t.CategoryID]; cat != nil {
			c.Category = cat.Name
		}
		if t.LeadDepartmentID != nil {
			if d := dir.depts[*t.LeadDepartmentID]; d != nil {
				c.Department = d.Name
			}
		}
		b.Cases = append(b.Cases, c)
	}
	return b, nil
}

func pseudonymOrEmpty(name string) string {
	if strings.TrimSpace(name) == "" {
		return ""
	}
	return pseudonym(strings.TrimSpace(name))
}
