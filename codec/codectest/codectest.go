// Package codectest checks generated JSON codecs (easyjson's, in
// packages container and image, through package codec) against
// encoding/json, for their tests: a
// value with every field set must come back whole through either
// encoder and either decoder, which fails as soon as a field is added to
// a type without go generate run again.
package codectest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/codec"
)

// Codec is a type with generated code: a pointer to a value of it.
type Codec interface {
	codec.Marshaler
	codec.Unmarshaler
}

// Check checks v's type (v a pointer to a zero value) both empty and with
// a value in every field: what each encoder writes each decoder reads
// back equal, and both encoders write the same JSON, order aside. fixed
// are values to use as they are wherever their type is found (one that
// checks its own JSON, a digest).
func Check(t *testing.T, v Codec, fixed ...any) {
	t.Helper()
	fresh := func() Codec { return reflect.New(reflect.TypeOf(v).Elem()).Interface().(Codec) }
	check(t, "empty", fresh(), fresh)
	f := filler{t: t}
	for _, x := range fixed {
		f.fixed = append(f.fixed, reflect.ValueOf(x))
	}
	f.fill(reflect.ValueOf(v).Elem(), 1)
	check(t, "filled", v, fresh)
}

func check(t *testing.T, what string, v Codec, fresh func() Codec) {
	t.Helper()
	gen, err := codec.Marshal(v)
	if err != nil {
		t.Fatalf("%T, %s: easyjson: %v", v, what, err)
	}
	std, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T, %s: encoding/json: %v", v, what, err)
	}
	var a, b any
	if err := json.Unmarshal(gen, &a); err != nil {
		t.Fatalf("%T, %s: the generated encoder wrote no JSON: %v\n%s", v, what, err, gen)
	}
	json.Unmarshal(std, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%T, %s: the generated encoder wrote\n%s\nwhere encoding/json writes\n%s", v, what, gen, std)
	}
	for _, c := range []struct {
		what string
		data []byte
		dec  func([]byte, Codec) error
	}{
		{"the generated encoder's, through encoding/json", gen, func(d []byte, x Codec) error { return json.Unmarshal(d, x) }},
		{"encoding/json's, through the generated decoder", std, func(d []byte, x Codec) error { return codec.Unmarshal(d, x) }},
	} {
		back := fresh()
		if err := c.dec(c.data, back); err != nil {
			t.Errorf("%T, %s: %s: %v", v, what, c.what, err)
			continue
		}
		if !reflect.DeepEqual(back, v) {
			t.Errorf("%T, %s: %s came back as\n%+v\nnot\n%+v", v, what, c.what, back, v)
		}
	}
}

// filler sets every exported field it can reach in a value to a value
// that is not zero: strings, numbers, booleans, two elements in slices
// and maps, each of an array's, a pointer's target, a time; a type it
// holds a value of (fixed), to that value. A kind it cannot fill (an
// interface) fails the test: a field left zero would go unchecked.
type filler struct {
	t     *testing.T
	fixed []reflect.Value
}

func (f filler) fill(v reflect.Value, n int) {
	for _, x := range f.fixed {
		if x.Type() == v.Type() {
			v.Set(x)
			return
		}
	}
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(time.Date(2026, 12, 6, 7, 8, 9, n, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d<&>", n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), n)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i), n+i+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k, n+i+1)
			f.fill(e, n+i+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			f.fill(v.Index(i), n+i+1)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if sf := v.Type().Field(i); sf.IsExported() && sf.Tag.Get("json") != "-" {
				f.fill(v.Field(i), n+i)
			}
		}
	default:
		f.t.Fatalf("codectest cannot fill a %s (%s): give a value of it to Check", v.Kind(), v.Type())
	}
}
