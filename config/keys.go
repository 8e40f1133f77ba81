package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable rexian reads.
const EnvPrefix = "REXIAN_"

// Key is one settable configuration key.
type Key struct {
	Path   string // YAML path: "tickets.handle_clock_from"
	Env    string // environment variable: "REXIAN_TICKETS_HANDLE_CLOCK_FROM"
	Secret bool   // masked by Masked
	Type   string // what a value must look like, for messages and docs

	index []int
	typ   reflect.Type
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// Keys lists every key of Config in declaration order.
func Keys() []Key {
	keys, err := keysOf(reflect.TypeFor[Config](), nil, nil, false)
	if err != nil {
		// Config's fields are fixed at compile time and its tests walk them, so this
		// only fires for a field added with an unsupported type and no test run.
		panic(err)
	}
	return keys
}

// keysOf walks t's yaml-tagged fields depth first.
func keysOf(t reflect.Type, prefix []string, index []int, secret bool) ([]Key, error) {
	var keys []Key
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("config: field %s.%s has no yaml tag", t.Name(), f.Name)
		}
		path := append(append([]string(nil), prefix...), name)
		idx := append(append([]int(nil), index...), i)
		isSecret := secret || f.Tag.Get("secret") == "true"
		if f.Type.Kind() == reflect.Struct && !isLeaf(f.Type) {
			sub, err := keysOf(f.Type, path, idx, isSecret)
			if err != nil {
				return nil, err
			}
			keys = append(keys, sub...)
			continue
		}
		desc, err := describe(f.Type)
		if err != nil {
			return nil, fmt.Errorf("config: key %s: %w", strings.Join(path, "."), err)
		}
		keys = append(keys, Key{
			Path:   strings.Join(path, "."),
			Env:    EnvPrefix + strings.ToUpper(strings.Join(path, "_")),
			Secret: isSecret,
			Type:   desc,
			index:  idx,
			typ:    f.Type,
		})
	}
	return keys, nil
}

// isLeaf reports whether a struct type is set as one value rather than walked.
func isLeaf(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// describe says what a value of t looks like, or why t cannot be configured.
func describe(t reflect.Type) (string, error) {
	switch {
	case t == durationType:
		return "a duration such as 90s, 15m or 12h", nil
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "a " + t.String() + " value", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "a string", nil
	case reflect.Bool:
		return "true or false", nil
	case reflect.Int, reflect.Int64:
		return "a whole number", nil
	case reflect.Float64:
		return "a number", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings (comma-separated in the environment)", nil
		}
		if t.Elem().Kind() == reflect.Struct {
			return structuredDesc, nil
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			return structuredDesc, nil
		}
	}
	return "", fmt.Errorf("type %s is not supported: use string, bool, int, int64, float64, time.Duration, []string, a list of structs, a map with string keys or an encoding.TextUnmarshaler", t)
}

// structuredDesc describes keys whose value is a YAML structure (lists of lines, menus,
// prompt texts): in the file they are written as YAML, in the environment as one YAML
// flow value, e.g. REXIAN_IVR_LINES='[{number: "12345", hotline: mayor, channels: 14}]'.
const structuredDesc = "YAML (in the environment a YAML flow value such as [{key: value}])"

// structured reports whether k's value is a YAML structure rather than a scalar or a list
// of strings.
func (k Key) structured() bool { return k.Type == structuredDesc }

// setYAML decodes a YAML document into the field k of root, strictly: an unknown field
// inside the structure is an error rather than a silently ignored typo.
func (k Key) setYAML(root reflect.Value, doc []byte) error {
	v := root.FieldByIndex(k.index)
	fresh := reflect.New(v.Type())
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(fresh.Interface()); err != nil {
		return fmt.Errorf("cannot use the value as %s: %w", k.Type, err)
	}
	v.Set(fresh.Elem())
	return nil
}

// findKey returns the key at path.
func findKey(keys []Key, path string) (Key, bool) {
	for _, k := range keys {
		if k.Path == path {
			return k, true
		}
	}
	return Key{}, false
}

// set parses raw into the field k of root, an addressable struct.
func (k Key) set(root reflect.Value, raw string) error {
	if k.structured() {
		return k.setYAML(root, []byte(raw))
	}
	v := root.FieldByIndex(k.index)
	if err := setValue(v, raw); err != nil {
		// "invalid syntax" says enough; strconv's own prefix repeats the value.
		var numErr *strconv.NumError
		if errors.As(err, &numErr) {
			err = numErr.Err
		}
		return fmt.Errorf("cannot use %q as %s: %w", raw, k.Type, err)
	}
	return nil
}

// setList sets a []string key from separate items (a YAML sequence).
func (k Key) setList(root reflect.Value, items []string) error {
	v := root.FieldByIndex(k.index)
	if v.Kind() != reflect.Slice {
		return fmt.Errorf("want %s, not a list", k.Type)
	}
	if len(items) == 0 {
		v.Set(reflect.Zero(v.Type())) // `key: []` reads back as the default's nil
		return nil
	}
	v.Set(reflect.ValueOf(append([]string{}, items...)).Convert(v.Type()))
	return nil
}

func setValue(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(strings.TrimSpace(raw)))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	case reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(append([]string{}, items...)).Convert(v.Type()))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}
