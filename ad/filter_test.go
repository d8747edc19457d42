package ad

import "testing"

func TestEscapeFilter(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"plain-value":          "plain-value",
		`a*b(c)d\e`:            `a\2ab\28c\29d\5ce`,
		"nul\x00end":           `nul\00end`,
		"Ventes & Marketing ø": "Ventes & Marketing ø",
	} {
		if got := EscapeFilter(in); got != want {
			t.Errorf("EscapeFilter(%q) = %q, want %q", in, got, want)
		}
	}
}
