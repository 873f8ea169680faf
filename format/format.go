package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
	"unicode"

	units "github.com/docker/go-units"
)

// JSON is the --format value that prints the rows as a JSON array.
const JSON = "json"

// tablePrefix makes a template a table: a header row, aligned columns.
const tablePrefix = "table"

// Columns maps a row's field names to the headers a table shows for them
// ("ID" → "CONTAINER ID"). A field missing here is shown by its name, in
// capitals.
type Columns map[string]string

// FieldError is a template that refers to a field the rows do not have.
type FieldError struct {
	Field  string   // as the template wrote it
	Fields []string // what the rows have, sorted
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("--format: %q is not a field here; the fields are: %s", e.Field, strings.Join(e.Fields, ", "))
}

func (e *FieldError) Unwrap() error { return e.Err }

// Template is a parsed --format value.
type Template struct {
	table bool
	tmpl  *template.Template
	row   reflect.Type // what Execute's rows hold
}

// Parse parses spec (not "json") for rows of row's type. A syntax error,
// or a field that type lacks, is an error naming what is wrong.
func Parse(spec string, row any) (*Template, error) {
	t := &Template{row: reflect.TypeOf(row)}
	text := strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(text, tablePrefix); ok && (rest == "" || unicode.IsSpace(rune(rest[0]))) {
		t.table, text = true, strings.TrimLeftFunc(rest, unicode.IsSpace)
	}
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	tmpl, err := template.New("format").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("--format %q: %w", spec, err)
	}
	t.tmpl = tmpl
	// A wrong field is found now, even with no rows to show it on. (Other
	// failures on a zero row, a method that wants data, are not errors.)
	zero := reflect.New(t.row).Elem()
	if t.row.Kind() == reflect.Pointer {
		zero = reflect.New(t.row.Elem())
	}
	if err := t.tmpl.Execute(io.Discard, zero.Interface()); err != nil {
		if err := t.explain(spec, err); IsFieldError(err) {
			return nil, err
		}
	}
	return t, nil
}

// Execute writes one line per row of rows (a slice of the type Parse was
// given); a table gets a header from cols first.
func (t *Template) Execute(w io.Writer, rows any, cols Columns) error {
	v := reflect.ValueOf(rows)
	out := w
	var tw *tabwriter.Writer
	if t.table {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		if err := t.header(tw, cols); err != nil {
			return err
		}
	}
	for i := 0; i < v.Len(); i++ {
		var b bytes.Buffer
		if err := t.tmpl.Execute(&b, v.Index(i).Interface()); err != nil {
			return t.explain("", err)
		}
		b.WriteByte('\n')
		if _, err := out.Write(b.Bytes()); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// header executes the template on the column names instead of a row.
func (t *Template) header(w io.Writer, cols Columns) error {
	names := map[string]string{}
	for _, f := range fieldNames(t.row) {
		h := cols[f]
		if h == "" {
			h = strings.ToUpper(f)
		}
		names[f] = h
	}
	var b bytes.Buffer
	if err := t.tmpl.Execute(&b, names); err != nil {
		// Functions of a row's fields (json ., a method) have no header.
		return nil
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// explain turns text/template's "can't evaluate field X" into a
// FieldError listing the row's fields.
func (t *Template) explain(spec string, err error) error {
	msg := err.Error()
	const marker = "can't evaluate field "
	if i := strings.Index(msg, marker); i >= 0 {
		field := strings.Fields(msg[i+len(marker):])[0]
		return &FieldError{Field: field, Fields: fieldNames(t.row), Err: err}
	}
	if spec != "" {
		return fmt.Errorf("--format %q: %w", spec, err)
	}
	return fmt.Errorf("--format: %w", err)
}

// fieldNames are a row type's exported fields and argument-free methods.
func fieldNames(t reflect.Type) []string {
	var out []string
	methods := t
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				out = append(out, f.Name)
			}
		}
	}
	for i := 0; i < methods.NumMethod(); i++ {
		if m := methods.Method(i); m.Type.NumIn() == 1 {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// funcs are Docker's template functions.
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
}

// IsFieldError reports whether err is a template's wrong field.
func IsFieldError(err error) bool {
	var fe *FieldError
	return errors.As(err, &fe)
}

// Ago is how long ago t was, as Docker says it ("About a minute ago").
func Ago(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return units.HumanDuration(time.Since(t)) + " ago"
}

// Duration is d as Docker says it in "Up 5 minutes".
func Duration(d time.Duration) string { return units.HumanDuration(d) }

// Size is n bytes as Docker prints image sizes ("23.5MB").
func Size(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }
