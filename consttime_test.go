package authkit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretName matches identifiers that hold secrets, their hashes or MACs.
var secretName = regexp.MustCompile(`(?i)(secret|hash|password|passwd|sealed|mac|digest)`)

// TestConstantTime_NoPlainComparisonOfSecrets is a vet-like check over the
// packages that handle secrets: it fails on bytes.Equal anywhere in them,
// and on == or != between two non-literal operands of which one is named
// like a secret, hash, password or MAC. Those comparisons must go through
// crypto/subtle or hmac.Equal (seal.Equal), or bcrypt.
func TestConstantTime_NoPlainComparisonOfSecrets(t *testing.T) {
	dirs := []string{".", "keys", "tokens", "sessions", "httpmw", "handlers", "server", "client", "internal/seal", "internal/opaque", "storage/memory", "storage/sqlite", "storage/postgres", "examples/server"}
	fset := token.NewFileSet()
	checked := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, file, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "bytes" && sel.Sel.Name == "Equal" {
							t.Errorf("%s: bytes.Equal is not constant-time; use seal.Equal / hmac.Equal", fset.Position(x.Pos()))
						}
					}
				case *ast.BinaryExpr:
					if x.Op != token.EQL && x.Op != token.NEQ || isLiteral(x.X) || isLiteral(x.Y) {
						return true
					}
					if secretName.MatchString(name(x.X)) || secretName.MatchString(name(x.Y)) {
						t.Errorf("%s: %s compared with %s; use a constant-time comparison", fset.Position(x.Pos()), name(x.X), x.Op)
					}
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d files: is the test running from the module root?", checked)
	}
}

func isLiteral(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return x.Name == "nil" || x.Name == "true" || x.Name == "false"
	case *ast.CallExpr: // len(x) == n and the like compare lengths, not contents
		if id, ok := x.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
			return true
		}
	}
	return false
}

// name returns the identifier or the last selector of e.
func name(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.IndexExpr:
		return name(x.X)
	case *ast.SliceExpr:
		return name(x.X)
	case *ast.CallExpr:
		return name(x.Fun)
	}
	return ""
}
