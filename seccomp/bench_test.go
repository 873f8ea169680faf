package seccomp

import "testing"

func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Default(dockerCaps); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	p, err := Default(dockerCaps)
	if err != nil {
		b.Fatal(err)
	}
	first := FakeRoot()
	for b.Loop() {
		if _, err := Compile(p, first); err != nil {
			b.Fatal(err)
		}
	}
}
