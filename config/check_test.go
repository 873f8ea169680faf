package config

import "testing"

// TestCheckSameMessage: memory_swap below memory is one mistake with one
// message, whether both come from a launch file, both from flags, or one
// from each; only how the key is named differs (file:line:col or --flag).
func TestCheckSameMessage(t *testing.T) {
	dir := t.TempDir()
	file, err := LoadApp(writeFile(t, dir, "app.toml", "[resources]\nmemory = \"1G\"\nmemory_swap = \"512M\"\n"), fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	onlyMemory, err := LoadApp(writeFile(t, dir, "mem.toml", "[resources]\nmemory = \"1G\"\n"), fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	flags := &App{Resources: Resources{Memory: 1 << 30, MemorySwap: 512 << 20}, Sources: map[string]string{"resources.memory": "flag", "resources.memory_swap": "flag"}}
	swapFlag := &App{Resources: Resources{MemorySwap: 512 << 20}, Sources: map[string]string{"resources.memory_swap": "flag"}}
	const core = " (512MiB) is memory plus swap: it cannot be less than "
	for _, tt := range []struct {
		name   string
		layers []*App
		want   string
	}{
		{"file", []*App{Defaults(), file}, dir + "/app.toml:3:15: resources.memory_swap" + core + "resources.memory (1GiB)"},
		{"flags", []*App{Defaults(), flags}, "--memory-swap" + core + "--memory (1GiB)"},
		{"file and flag", []*App{Defaults(), onlyMemory, swapFlag}, "--memory-swap" + core + "resources.memory (1GiB)"},
	} {
		err := Merge(tt.layers...).Check()
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v\nwant %s", tt.name, err, tt.want)
		}
	}
	ok := &App{Resources: Resources{Memory: 1 << 30, MemorySwap: 2 << 30}, Sources: map[string]string{"resources.memory": "flag", "resources.memory_swap": "flag"}}
	if err := Merge(Defaults(), ok).Check(); err != nil {
		t.Errorf("memory_swap above memory: %v", err)
	}
}
