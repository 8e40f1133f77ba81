package tickets

import (
	"testing"

	"github.com/rexian/rexian/api"
)

// A department's phone is dialled for transfers and three-way calls: it must be a
// telephone number; it is kept as typed (trimmed).
func TestDepartmentPhone(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{"call me", "12", "0477-858123x", "0477 8581234 ext. 5"} {
		_, err := f.store.SaveDepartment(f.ctx, DepartmentInput{Code: "zjj", Name: "市住建局", Level: LevelCity, Phone: bad})
		wantKind(t, err, api.ErrInvalid, "invalid_department_phone")
	}
	v, err := f.store.SaveDepartment(f.ctx, DepartmentInput{Code: "zjj", Name: "市住建局", Level: LevelCity, Phone: " 0477-8581234 "})
	if err != nil {
		t.Fatal(err)
	}
	deps, err := f.store.Departments(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if d.Code == "zjj" && d.Phone != "0477-8581234" {
			t.Errorf("phone stored as %q (view %q)", d.Phone, v.Phone)
		}
	}
}
