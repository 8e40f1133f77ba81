package tickets

import "time"

// Level is a department's place in the four-level service hierarchy.
type Level string

const (
	LevelCity     Level = "city"     // 市直部门
	LevelDistrict Level = "district" // 旗区 (banner or district government and its bureaus)
	LevelTownship Level = "township" // 苏木镇/街道
	LevelVillage  Level = "village"  // 嘎查村/社区
)

func (l Level) depth() int {
	switch l {
	case LevelCity:
		return 1
	case LevelDistrict:
		return 2
	case LevelTownship:
		return 3
	case LevelVillage:
		return 4
	}
	return 0
}

// Department is a unit that handles tickets (承办单位). Departments form a tree; a
// department sees the tickets of its sub-units, and may re-dispatch downwards.
type Department struct {
	ID       uint   `gorm:"primaryKey" json:"id"`
	Code     string `gorm:"size:32;uniqueIndex;not null" json:"code"`
	Name     string `gorm:"size:128;not null" json:"name"`
	Level    Level  `gorm:"size:16;not null" json:"level"`
	ParentID *uint  `gorm:"index" json:"parent_id,omitempty"`
	// Path is the chain of ids from the root, "/3/17/", so that "this department and its
	// sub-units" is one indexed prefix match.
	Path string `gorm:"size:255;index;not null" json:"-"`
	// Government marks the banner/district (or township) government itself, which takes
	// tickets whose department is unclear for its area (兜底).
	Government bool      `gorm:"not null;default:false" json:"government"`
	Phone      string    `gorm:"size:32" json:"phone,omitempty"`
	Active     bool      `gorm:"not null" json:"active"` // the column defaults to true, but a default in the tag would make gorm store false as true
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Kind is the kind of a citizen's request, at the top of the category tree.
type Kind string

const (
	KindConsultation Kind = "consultation" // 咨询
	KindComplaint    Kind = "complaint"    // 投诉
	KindHelp         Kind = "help"         // 求助
	KindSuggestion   Kind = "suggestion"   // 建议
	KindPraise       Kind = "praise"       // 表扬
	KindReport       Kind = "report"       // 举报
	KindConduct      Kind = "conduct"      // 效能投诉: complaints about officials' conduct
)

// Category is a node of the category tree. Limits left empty are inherited from the
// parent, then from the configured defaults.
type Category struct {
	ID                  uint   `gorm:"primaryKey" json:"id"`
	Code                string `gorm:"size:32;uniqueIndex;not null" json:"code"`
	Name                string `gorm:"size:128;not null" json:"name"`
	Kind                Kind   `gorm:"size:16;not null" json:"kind"`
	ParentID            *uint  `gorm:"index" json:"parent_id,omitempty"`
	DefaultDepartmentID *uint  `json:"default_department_id,omitempty"`
	// Limits in the calendar package's notation: "4wh" working hours, "5wd" working days,
	// "24h" clock hours. Urgent and critical limits should be clock limits.
	SignLimit           string    `gorm:"size:16" json:"sign_limit,omitempty"`
	HandleLimit         string    `gorm:"size:16" json:"handle_limit,omitempty"`
	UrgentSignLimit     string    `gorm:"size:16" json:"urgent_sign_limit,omitempty"`
	UrgentHandleLimit   string    `gorm:"size:16" json:"urgent_handle_limit,omitempty"`
	CriticalSignLimit   string    `gorm:"size:16" json:"critical_sign_limit,omitempty"`
	CriticalHandleLimit string    `gorm:"size:16" json:"critical_handle_limit,omitempty"`
	Active              bool      `gorm:"not null" json:"active"` // as Department.Active
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}
