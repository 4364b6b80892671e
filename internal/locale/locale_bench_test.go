package locale

import "testing"

func BenchmarkT(b *testing.B) {
	t := Builtin().For("en")
	data := map[string]any{"Name": "The Weekly Letter"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = t.T("check.body", data)
		_ = t.T("check.title")
	}
}

func BenchmarkFor(b *testing.B) {
	c := Builtin()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = c.For("en", "fr-FR,fr;q=0.9")
	}
}
