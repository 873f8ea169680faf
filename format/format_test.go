package format

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type row struct {
	ID, Names string
	Size      int64
}

func (r row) Short() string { return r.ID[:3] }

var rows = []row{{"abcdef", "web", 10}, {"0123456789", "db-primary", 2000}}

func run(t *testing.T, spec string) string {
	t.Helper()
	tmpl, err := Parse(spec, row{})
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, rows, Columns{"ID": "CONTAINER ID"}); err != nil {
		t.Fatalf("Execute(%q): %v", spec, err)
	}
	return b.String()
}

func TestTemplate(t *testing.T) {
	if got, want := run(t, "{{.Names}} {{.Short}}"), "web abc\ndb-primary 012\n"; got != want {
		t.Errorf("plain template: %q, want %q", got, want)
	}
	// As a shell passes it: a backslash and a t.
	if got, want := run(t, `{{.ID}}\t{{.Size}}`), "abcdef\t10\n0123456789\t2000\n"; got != want {
		t.Errorf(`\t: %q, want %q`, got, want)
	}
	if got, want := run(t, "{{json .}}"), `{"ID":"abcdef","Names":"web","Size":10}`+"\n"+`{"ID":"0123456789","Names":"db-primary","Size":2000}`+"\n"; got != want {
		t.Errorf("json: %q, want %q", got, want)
	}
	if got, want := run(t, `{{upper .Names}} {{join (split .ID "5") "-"}}`), "WEB abcdef\nDB-PRIMARY 01234-6789\n"; got != want {
		t.Errorf("functions: %q, want %q", got, want)
	}
}

func TestTable(t *testing.T) {
	got := run(t, `table {{.ID}}\t{{.Names}}`)
	want := "CONTAINER ID   NAMES\n" +
		"abcdef         web\n" +
		"0123456789     db-primary\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	// A field without a column name is headed by its name in capitals.
	if got := run(t, "table {{.Size}}"); !strings.HasPrefix(got, "SIZE\n") {
		t.Errorf("table {{.Size}}: %q, want a SIZE header", got)
	}
	// "tablet" is not the table prefix.
	if _, err := Parse("tablet {{.ID}}", row{}); err != nil {
		t.Errorf(`"tablet {{.ID}}": %v`, err)
	}
}

func TestWrongField(t *testing.T) {
	_, err := Parse("{{.Names}} {{.Status}}", row{})
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("a field the rows lack: %v, want a *FieldError", err)
	}
	if fe.Field != "Status" || strings.Join(fe.Fields, ",") != "ID,Names,Short,Size" {
		t.Errorf("FieldError %+v: want field Status and fields ID,Names,Short,Size", fe)
	}
	if !strings.Contains(err.Error(), "ID, Names, Short, Size") {
		t.Errorf("message %q does not list the fields", err)
	}
	if _, err := Parse("{{.Names", row{}); err == nil || IsFieldError(err) {
		t.Errorf("a syntax error: %v, want an error that is not a FieldError", err)
	}
}

func TestUnits(t *testing.T) {
	if got := Ago(time.Now().Add(-70 * time.Second)); got != "About a minute ago" {
		t.Errorf("Ago(70s) = %q", got)
	}
	if got := Ago(time.Now().Add(-2*time.Hour - time.Minute)); got != "2 hours ago" {
		t.Errorf("Ago(2h1m) = %q", got)
	}
	if got := Size(1980000); got != "1.98MB" {
		t.Errorf("Size(1980000) = %q", got)
	}
}
