package pii

import (
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// pluginName is the plugin's name in gorm's registry (db.Config.Plugins).
const pluginName = "rexian:pii"

// Plugin seals and opens tagged fields on every write and read of a *gorm.DB.
type Plugin struct{ keys *Keyring }

// Name is the plugin's name for gorm.
func (*Plugin) Name() string { return pluginName }

// Initialize registers the callbacks.
func (p *Plugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	steps := []error{
		cb.Create().Before("gorm:create").Register("pii:seal_create", p.seal),
		cb.Create().After("gorm:create").Register("pii:open_create", p.openWritten),
		cb.Update().Before("gorm:update").Register("pii:seal_update", p.seal),
		cb.Update().After("gorm:update").Register("pii:open_update", p.openWritten),
		cb.Query().After("gorm:query").Register("pii:open_query", p.openRead),
	}
	for _, err := range steps {
		if err != nil {
			return fmt.Errorf("pii: register callbacks: %w", err)
		}
	}
	return nil
}

// Install puts keys on db: from now on tagged fields are sealed and opened. Call it once
// per opened database, before it is shared.
func Install(db *gorm.DB, keys *Keyring) error {
	if keys == nil {
		keys = &Keyring{}
	}
	return db.Use(&Plugin{keys: keys})
}

// Keys returns the keyring installed on db, or an empty one (no encryption).
func Keys(db *gorm.DB) *Keyring {
	if p, ok := db.Config.Plugins[pluginName].(*Plugin); ok {
		return p.keys
	}
	return &Keyring{}
}

// tagged lists a schema's sealed fields and blind-index fields (with their source).
type tagged struct {
	sealed []*schema.Field
	blind  map[*schema.Field]*schema.Field // index field → the field it indexes
}

func taggedOf(s *schema.Schema) (tagged, bool) {
	var t tagged
	if s == nil {
		return t, false
	}
	for _, f := range s.Fields {
		if _, ok := f.TagSettings["PII"]; ok && f.FieldType.Kind() == reflect.String {
			t.sealed = append(t.sealed, f)
		}
		if col, ok := f.TagSettings["BLINDINDEX"]; ok {
			if src := s.LookUpField(col); src != nil {
				if t.blind == nil {
					t.blind = map[*schema.Field]*schema.Field{}
				}
				t.blind[f] = src
			}
		}
	}
	return t, len(t.sealed) > 0 || len(t.blind) > 0
}

// seal runs before a create or update: blind indexes are computed from the plain values,
// then the values are sealed, in the model being written and in an Updates map.
func (p *Plugin) seal(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	t, ok := taggedOf(db.Statement.Schema)
	if !ok {
		return
	}
	if m, ok := db.Statement.Dest.(map[string]any); ok {
		p.sealMap(db, t, m)
		return
	}
	each(db, t, func(rv reflect.Value) error {
		if rv.Type() != db.Statement.Schema.ModelType {
			return fmt.Errorf("pii: %s is written from a %s, which cannot be sealed: write a %s or a map", db.Statement.Schema.Table, rv.Type(), db.Statement.Schema.ModelType)
		}
		ctx := db.Statement.Context
		for idx, src := range t.blind {
			v, _ := src.ValueOf(ctx, rv)
			if s, ok := v.(string); ok {
				// A value copied sealed from another row is indexed by what it holds.
				plain, err := p.keys.Open(s)
				if err != nil {
					return err
				}
				if err := idx.Set(ctx, rv, p.keys.Index(plain)); err != nil {
					return err
				}
			}
		}
		for _, f := range t.sealed {
			v, _ := f.ValueOf(ctx, rv)
			s, _ := v.(string)
			if _, done := IsSealed(s); done {
				continue
			}
			sealed, err := p.keys.Seal(s)
			if err != nil {
				return err
			}
			if err := f.Set(ctx, rv, sealed); err != nil {
				return err
			}
		}
		return nil
	})
}

func (p *Plugin) sealMap(db *gorm.DB, t tagged, m map[string]any) {
	for idx, src := range t.blind {
		for _, key := range []string{src.DBName, src.Name} {
			if s, ok := m[key].(string); ok {
				plain, err := p.keys.Open(s)
				if err != nil {
					db.AddError(err)
					return
				}
				m[idx.DBName] = p.keys.Index(plain)
			}
		}
	}
	for _, f := range t.sealed {
		for _, key := range []string{f.DBName, f.Name} {
			s, ok := m[key].(string)
			if !ok {
				continue
			}
			if _, done := IsSealed(s); done {
				continue
			}
			sealed, err := p.keys.Seal(s)
			if err != nil {
				db.AddError(err)
				return
			}
			m[key] = sealed
		}
	}
}

// openWritten runs after a create or update: the caller's model holds plain values
// again, as before the write.
func (p *Plugin) openWritten(db *gorm.DB) {
	if _, ok := db.Statement.Dest.(map[string]any); ok {
		return
	}
	p.openRead(db)
}

// openRead opens the sealed fields of what a query read: the model, or another struct
// with fields of the same names (a Scan into a row type).
func (p *Plugin) openRead(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	t, ok := taggedOf(db.Statement.Schema)
	if !ok || len(t.sealed) == 0 {
		return
	}
	each(db, t, func(rv reflect.Value) error {
		if rv.Type() == db.Statement.Schema.ModelType {
			ctx := db.Statement.Context
			for _, f := range t.sealed {
				v, _ := f.ValueOf(ctx, rv)
				s, _ := v.(string)
				if _, sealed := IsSealed(s); !sealed {
					continue
				}
				plain, err := p.keys.Open(s)
				if err != nil {
					return fmt.Errorf("%s of %s: %w", f.DBName, db.Statement.Schema.Table, err)
				}
				if err := f.Set(ctx, rv, plain); err != nil {
					return err
				}
			}
			return nil
		}
		for _, f := range t.sealed {
			fv := rv.FieldByName(f.Name)
			if !fv.IsValid() || fv.Kind() != reflect.String || !fv.CanSet() {
				continue
			}
			if _, sealed := IsSealed(fv.String()); !sealed {
				continue
			}
			plain, err := p.keys.Open(fv.String())
			if err != nil {
				return fmt.Errorf("%s of %s: %w", f.DBName, db.Statement.Schema.Table, err)
			}
			fv.SetString(plain)
		}
		return nil
	})
}

// each calls fn with every struct the statement writes or read: the update's source
// when it is not the model itself, else the statement's value.
func each(db *gorm.DB, _ tagged, fn func(reflect.Value) error) {
	rv := db.Statement.ReflectValue
	if db.Statement.Dest != nil && !same(db.Statement.Dest, db.Statement.Model) {
		if d := reflect.Indirect(reflect.ValueOf(db.Statement.Dest)); d.IsValid() && (d.Kind() == reflect.Struct || d.Kind() == reflect.Slice || d.Kind() == reflect.Array) {
			rv = d
		}
	}
	visit := func(v reflect.Value) {
		v = reflect.Indirect(v)
		if v.Kind() != reflect.Struct || !v.CanAddr() {
			return
		}
		if err := fn(v); err != nil {
			db.AddError(err)
		}
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			visit(rv.Index(i))
		}
	case reflect.Struct:
		visit(rv)
	}
}

// same reports whether the statement's destination is its model. They may be slices,
// which == cannot compare (it panics): a slice is the same when it shares its array.
func same(dest, model any) bool {
	if model == nil {
		return false
	}
	d, m := reflect.ValueOf(dest), reflect.ValueOf(model)
	if d.Type() != m.Type() {
		return false
	}
	switch d.Kind() {
	case reflect.Pointer:
		return d.Pointer() == m.Pointer()
	case reflect.Slice:
		return d.Pointer() == m.Pointer() && d.Len() == m.Len()
	}
	return d.Comparable() && d.Equal(m)
}
