package tickets

import "testing"

// TestSaveKeepsFalse: a row asked for as inactive (or closed) is stored so. gorm leaves a
// zero-valued field whose tag names a default out of the INSERT, so a `default:true` tag on
// a model would turn every false into the column's true.
func TestSaveKeepsFalse(t *testing.T) {
	f := newFixture(t)
	no := false
	if _, err := f.store.SaveCategory(f.ctx, CategoryInput{Code: "OLD-1", Name: "旧分类", Kind: KindConsultation, Active: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SaveDepartment(f.ctx, DepartmentInput{Code: "OLD-D", Name: "已撤销单位", Level: LevelCity, Active: &no}); err != nil {
		t.Fatal(err)
	}
	answered := f.create(t, NewTicket{Content: "咨询社保补缴", Category: "ZX-SB", Answer: "可在社保大厅补缴"})

	cats, err := f.store.Categories(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cats {
		if c.Code == "OLD-1" {
			found = true
			if c.Active {
				t.Errorf("category OLD-1 saved with active=false lists as active")
			}
		}
	}
	if !found {
		t.Errorf("category OLD-1 not listed")
	}
	depts, err := f.store.Departments(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range depts {
		if d.Code == "OLD-D" && d.Active {
			t.Errorf("department OLD-D saved with active=false lists as active")
		}
	}
	var open bool
	if err := f.store.db.Model(&Ticket{}).Where("number = ?", answered.Number).Select("open").Scan(&open).Error; err != nil {
		t.Fatal(err)
	}
	if open {
		t.Errorf("ticket %s answered at registration (status %s) is stored open", answered.Number, answered.Status)
	}

	// Tickets stored open by the old model are repaired by the migration.
	if err := f.store.db.Model(&Ticket{}).Where("number = ?", answered.Number).Update("open", true).Error; err != nil {
		t.Fatal(err)
	}
	for _, m := range Migrations() {
		if m.ID == "20261206_63_tickets_closed_not_open" {
			if err := m.Migrate(f.store.db); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.store.db.Model(&Ticket{}).Where("number = ?", answered.Number).Select("open").Scan(&open).Error; err != nil || open {
		t.Errorf("after the repair, ticket %s open=%v (%v)", answered.Number, open, err)
	}
}
