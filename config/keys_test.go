package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md's key table from Keys")

const (
	docPath    = "../docs/config.md"
	tableBegin = "<!-- keys: generated from config.Keys; go test ./config -update -->\n"
	tableEnd   = "<!-- end of keys -->\n"
)

// TestKeysDoc fails when docs/config.md's key table is not Keys'.
func TestKeysDoc(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no key table between %q and %q", docPath, tableBegin, tableEnd)
	}
	have, want := doc[i+len(tableBegin):j], KeysMarkdown()
	if have == want {
		return
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(doc[:i+len(tableBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's key table differs from config.Keys (run go test ./config -update):\nhave:\n%s\nwant:\n%s", docPath, have, want)
}

// TestKeysDecodeEveryKey checks that every key a launch file may hold is
// decoded into its field and written back by WriteTOML: a key added to
// Keys without a field, or with the wrong type, fails here.
func TestKeysDecodeEveryKey(t *testing.T) {
	dir := t.TempDir()
	sample := map[Type]string{
		String: `"x"`, Bool: "true", Int: "40", Number: "1.5", Size: `"64MiB"`, Strings: `["a"]`, Command: `["a", "b"]`,
	}
	// Values that pass each key's check.
	valid := map[string]string{
		"image": `"busybox"`, "workdir": `"/w"`, "network": `"none"`, "ports": `["8080:80"]`,
		"dns": `["1.1.1.1"]`, "add_hosts": `["db:10.0.0.2"]`, "security.cap_add": `["NET_ADMIN"]`,
		"security.cap_drop": `["ALL"]`, "security.seccomp": `"unconfined"`, "restart": `"always"`,
		"env_file": `"env"`, "devices": `["/dev/zero:/dev/z:rw"]`, "pull": `"never"`, "ulimits": `["nofile=100:200"]`, "sysctls": `["net.ipv4.ip_forward=1"]`,
		"health_interval": `"2s"`, "health_timeout": `"1s"`, "health_start_period": `"0s"`, "userns": `"keep-id"`,
	}
	writeFile(t, dir, "env", "A=1\n")
	for _, k := range Keys {
		if k.Type == Table {
			continue
		}
		v, ok := valid[k.Name]
		if !ok {
			v = sample[k.Type]
		}
		table, last := tableOf(k.Name)
		text := last + " = " + v + "\n"
		if table != "" {
			text = "[" + table + "]\n" + text
		}
		a, err := LoadApp(writeFile(t, dir, "app.toml", text), fakeEnv(nil))
		if err != nil {
			t.Errorf("%s = %s: %v", k.Name, v, err)
			continue
		}
		if a.Sources[k.Name] == "" {
			t.Errorf("%s = %s: not recorded in Sources", k.Name, v)
		}
		var out strings.Builder
		a.WriteTOML(&out, false)
		if !strings.Contains(out.String(), last+" = ") {
			t.Errorf("%s = %s: WriteTOML wrote no %s:\n%s", k.Name, v, last, out.String())
		}
	}
}

// Normalize takes values as encoding/json decodes them into an any and
// gives what Set takes; a value of the wrong type is refused, naming the
// key.
func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		key  string
		in   any
		want any
	}{
		{"stop_timeout", float64(7), int64(7)},
		{"resources.cpus", float64(1.5), 1.5},
		{"labels", []any{"a=b", "c=d"}, []string{"a=b", "c=d"}},
		{"read_only", true, true},
		{"hostname", "box", "box"},
	} {
		got, err := Lookup(c.key).Normalize(c.in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", c.want) {
			t.Errorf("Normalize(%s, %v) = %#v, %v; want %#v", c.key, c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		key string
		in  any
	}{{"stop_timeout", 1.5}, {"stop_timeout", "7"}, {"labels", []any{"a", 1.0}}, {"read_only", "yes"}} {
		if _, err := Lookup(c.key).Normalize(c.in); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("Normalize(%s, %#v) = %v; want an error naming the key", c.key, c.in, err)
		}
	}
}
