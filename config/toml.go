package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is a place in a TOML file, for error messages.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Kind is the type of a TOML value.
type Kind int

const (
	KString Kind = iota
	KInt
	KFloat
	KBool
	KArray
	KTable
	KDate // a date or time: valid TOML, never a valid setting here
)

func (k Kind) String() string {
	return [...]string{"a string", "an integer", "a number", "a boolean", "an array", "a table", "a date"}[k]
}

// Value is a TOML value that remembers where it was written, so that a
// setting that is valid TOML but a wrong value can still be reported with
// its line and column.
type Value struct {
	Kind  Kind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Arr   []*Value
	Table map[string]*Value
	Keys  []string // table keys in file order
	Pos   Pos
	// KeyPos is where the key naming this value was written.
	KeyPos Pos

	// What TOML lets a later line do with a table: one written inline,
	// or an array written as a value, is closed (fixed); one a [header]
	// defined cannot be defined again; one dotted keys made cannot be
	// opened by a header.
	fixed, defined, dotted bool
}

// Text is the value as it would be written, for error messages.
func (v *Value) Text() string {
	switch v.Kind {
	case KString:
		return strconv.Quote(v.Str)
	case KInt:
		return strconv.FormatInt(v.Int, 10)
	case KFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case KBool:
		return strconv.FormatBool(v.Bool)
	case KArray:
		parts := make([]string, len(v.Arr))
		for i, e := range v.Arr {
			parts[i] = e.Text()
		}
		t := "[" + strings.Join(parts, ", ") + "]"
		if len(t) > 60 {
			t = t[:57] + "..."
		}
		return t
	case KDate:
		return v.Str
	}
	return "{...}"
}

// parseTOML reads a whole document into a positioned tree. Syntax errors
// and keys defined twice are errors with their position.
func parseTOML(file string, data []byte) (*Value, error) {
	root := &Value{Kind: KTable, Table: map[string]*Value{}, Pos: Pos{File: file, Line: 1, Col: 1}}
	var p unstable.Parser
	p.Reset(data)
	pos := func(r unstable.Range) Pos {
		if r.Length == 0 && r.Offset == 0 {
			return Pos{}
		}
		s := p.Shape(r)
		return Pos{File: file, Line: s.Start.Line, Col: s.Start.Column}
	}
	current := root
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, kpos := keyPath(e, pos)
			t, err := descend(root, keys, kpos, e.Kind == unstable.ArrayTable, file)
			if err != nil {
				return nil, err
			}
			current = t
		case unstable.KeyValue:
			if err := setKeyValue(current, e, pos, file); err != nil {
				return nil, err
			}
		}
	}
	if err := p.Error(); err != nil {
		var perr *unstable.ParserError
		if asParserError(err, &perr) {
			s := p.Shape(p.Range(perr.Highlight))
			return nil, fmt.Errorf("%s:%d:%d: %s", file, s.Start.Line, s.Start.Column, perr.Message)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return root, nil
}

func asParserError(err error, target **unstable.ParserError) bool {
	pe, ok := err.(*unstable.ParserError)
	if ok {
		*target = pe
	}
	return ok
}

func keyPath(n *unstable.Node, pos func(unstable.Range) Pos) ([]string, []Pos) {
	var keys []string
	var ps []Pos
	it := n.Key()
	for it.Next() {
		k := it.Node()
		keys = append(keys, string(k.Data))
		ps = append(ps, pos(k.Raw))
	}
	return keys, ps
}

// descend finds or makes the table a [header] or [[header]] names.
func descend(root *Value, keys []string, kpos []Pos, arrayTable bool, file string) (*Value, error) {
	t := root
	for i, k := range keys {
		last := i == len(keys)-1
		next, ok := t.Table[k]
		if !ok {
			kind := KTable
			if last && arrayTable {
				kind = KArray
			}
			next = &Value{Kind: kind, Table: map[string]*Value{}, Pos: kpos[i], KeyPos: kpos[i]}
			t.set(k, next)
		}
		if next.fixed {
			return nil, fmt.Errorf("%s: %q was written whole at line %d: it cannot be extended here", kpos[i], k, next.KeyPos.Line)
		}
		if last && arrayTable {
			if next.Kind != KArray {
				return nil, fmt.Errorf("%s: %q is already %s, not an array of tables", kpos[i], k, next.Kind)
			}
			elem := &Value{Kind: KTable, Table: map[string]*Value{}, Pos: kpos[i], KeyPos: kpos[i], defined: true}
			next.Arr = append(next.Arr, elem)
			return elem, nil
		}
		if next.Kind == KArray {
			if last {
				return nil, fmt.Errorf("%s: %q is an array of tables: write [[%s]]", kpos[i], k, k)
			}
			next = next.Arr[len(next.Arr)-1] // [a.b] after [[a]]: in its last table
		}
		if next.Kind != KTable {
			return nil, fmt.Errorf("%s: %q is %s, not a table", kpos[i], k, next.Kind)
		}
		if last {
			if next.defined || next.dotted {
				return nil, fmt.Errorf("%s: table [%s] is defined twice (first at line %d)", kpos[i], strings.Join(keys, "."), next.KeyPos.Line)
			}
			next.defined = true
			return next, nil
		}
		t = next
	}
	return t, nil
}

func (t *Value) set(k string, v *Value) {
	t.Table[k] = v
	t.Keys = append(t.Keys, k)
}

func setKeyValue(t *Value, e *unstable.Node, pos func(unstable.Range) Pos, file string) error {
	keys, kpos := keyPath(e, pos)
	for i, k := range keys[:len(keys)-1] {
		next, ok := t.Table[k]
		if !ok {
			next = &Value{Kind: KTable, Table: map[string]*Value{}, Pos: kpos[i], KeyPos: kpos[i], dotted: true}
			t.set(k, next)
		}
		if next.Kind != KTable {
			return fmt.Errorf("%s: %q is %s, not a table", kpos[i], k, next.Kind)
		}
		if next.fixed || !next.dotted {
			return fmt.Errorf("%s: %q is a table written elsewhere (line %d): a dotted key cannot add to it", kpos[i], k, next.KeyPos.Line)
		}
		t = next
	}
	k := keys[len(keys)-1]
	if prev, dup := t.Table[k]; dup {
		return fmt.Errorf("%s: %q is set twice (first at line %d)", kpos[len(kpos)-1], k, prev.KeyPos.Line)
	}
	v, err := convert(e.Value(), pos, kpos[len(kpos)-1])
	if err != nil {
		return err
	}
	v.KeyPos = kpos[len(kpos)-1]
	t.set(k, v)
	return nil
}

// convert turns a parser node into a Value. A node the parser gives no
// place (arrays) is placed at "at": its key, or the array holding it.
func convert(n *unstable.Node, pos func(unstable.Range) Pos, at Pos) (*Value, error) {
	v := &Value{Pos: pos(n.Raw)}
	if v.Pos.Line == 0 {
		v.Pos = at
	}
	data := string(n.Data)
	switch n.Kind {
	case unstable.String:
		v.Kind, v.Str = KString, data
	case unstable.Bool:
		v.Kind, v.Bool = KBool, data == "true"
	case unstable.Integer:
		v.Kind = KInt
		i, err := strconv.ParseInt(strings.ReplaceAll(data, "_", ""), 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: integer %s: %v", v.Pos, data, err)
		}
		v.Int = i
	case unstable.Float:
		v.Kind = KFloat
		f, err := strconv.ParseFloat(strings.ReplaceAll(data, "_", ""), 64)
		if err != nil {
			switch data {
			case "inf", "+inf", "-inf", "nan", "+nan", "-nan":
				return nil, fmt.Errorf("%s: %s is not a usable number", v.Pos, data)
			}
			return nil, fmt.Errorf("%s: number %s: %v", v.Pos, data, err)
		}
		v.Float = f
	case unstable.Array:
		v.Kind, v.fixed = KArray, true
		it := n.Children()
		for it.Next() {
			c, err := convert(it.Node(), pos, v.Pos)
			if err != nil {
				return nil, err
			}
			v.Arr = append(v.Arr, c)
		}
	case unstable.InlineTable:
		v.Kind, v.Table = KTable, map[string]*Value{}
		it := n.Children()
		for it.Next() {
			if err := setKeyValue(v, it.Node(), pos, at.File); err != nil {
				return nil, err
			}
		}
		v.fixed = true
	default:
		v.Kind, v.Str = KDate, data
	}
	return v, nil
}
