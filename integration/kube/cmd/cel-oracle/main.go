// cel-oracle is Kubernetes' answer for the CEL differential (integration/cel_oracle.rs): it
// compiles each expression as the validating admission plugin does (k8s.io/apiserver's
// admission/plugin/cel compiler, with its strict cost option, over environment.MustBaseEnvSet at
// compatibility version 1.37,
// NewExpressions, with object, oldObject, request, namespaceObject and params declared) and
// evaluates it with the base environment's per-call cost limit (PerCallLimit, 1,000,000).
//
// Input, on stdin, JSON lines: {"id": ..., "expression": ..., "object": ..., "oldObject": ...,
// "params": ...} (the three documents optional, null when absent). Output, one line per input in
// order: {"id", "compileError"} or {"id", "value", "type"} or {"id", "runtimeError"}. A value is
// printed in the canonical form `cmek-gate eval --batch` prints (docs/cel-differential.md).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/version"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

type input struct {
	ID         string          `json:"id"`
	Expression string          `json:"expression"`
	Object     json.RawMessage `json:"object,omitempty"`
	OldObject  json.RawMessage `json:"oldObject,omitempty"`
	Params     json.RawMessage `json:"params,omitempty"`
}

type output struct {
	ID           string `json:"id"`
	CompileError string `json:"compileError,omitempty"`
	Value        string `json:"value,omitempty"`
	Type         string `json:"type,omitempty"`
	RuntimeError string `json:"runtimeError,omitempty"`
}

// expression is a plugincel.ExpressionAccessor of any result type.
type expression string

func (e expression) GetExpression() string    { return string(e) }
func (e expression) ReturnTypes() []*cel.Type { return []*cel.Type{cel.AnyType} }

func main() {
	compiler := plugincel.NewCompiler(environment.MustBaseEnvSet(version.MajorMinor(1, 37)))
	declarations := plugincel.OptionalVariableDeclarations{HasParams: true}
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for line := 1; scanner.Scan(); line++ {
		var in input
		if err := json.Unmarshal(scanner.Bytes(), &in); err != nil {
			fmt.Fprintf(os.Stderr, "stdin line %d: %v\n", line, err)
			os.Exit(2)
		}
		result := output{ID: in.ID}
		compiled := compiler.CompileCELExpression(expression(in.Expression), declarations, environment.NewExpressions)
		if compiled.Error != nil {
			result.CompileError = compiled.Error.Error()
		} else {
			activation := map[string]any{
				"object":          document(in.Object, line),
				"oldObject":       document(in.OldObject, line),
				"params":          document(in.Params, line),
				"namespaceObject": nil,
			}
			value, _, err := compiled.Program.ContextEval(context.Background(), activation)
			if err != nil {
				result.RuntimeError = err.Error()
			} else if text, err := encode(value); err != nil {
				result.RuntimeError = err.Error()
			} else {
				result.Value = text
				result.Type = typeName(value)
			}
		}
		if err := encoder.Encode(result); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// document is a JSON document as the admission plugin binds an object: unstructured, with
// integral numbers as int64 (apimachinery's JSON reader), null when absent.
func document(raw json.RawMessage, line int) any {
	if len(raw) == 0 {
		return nil
	}
	var value any
	if err := utiljson.Unmarshal(raw, &value); err != nil {
		fmt.Fprintf(os.Stderr, "stdin line %d: %v\n", line, err)
		os.Exit(2)
	}
	return value
}

func typeName(v ref.Val) string {
	return v.Type().(ref.Type).TypeName()
}

// encode prints a value canonically (see the package comment).
func encode(v ref.Val) (string, error) {
	switch v := v.(type) {
	case types.Null:
		return "null", nil
	case types.Bool:
		return strconv.FormatBool(bool(v)), nil
	case types.Int:
		return strconv.FormatInt(int64(v), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(v), 10) + "u", nil
	case types.Double:
		return double(float64(v)), nil
	case types.String:
		return quote(string(v)), nil
	case types.Bytes:
		return quoteBytes([]byte(v)), nil
	case types.Duration:
		return fmt.Sprintf("duration(%dns)", int64(v.Duration)), nil
	case types.Timestamp:
		return fmt.Sprintf("timestamp(%d.%09d)", v.Time.Unix(), v.Time.Nanosecond()), nil
	case *types.Optional:
		if !v.HasValue() {
			return "optional.none()", nil
		}
		inner, err := encode(v.GetValue())
		return "optional.of(" + inner + ")", err
	case ref.Type:
		return "type(" + v.TypeName() + ")", nil
	case *types.Err:
		return "", v
	}
	if list, ok := v.(traits.Lister); ok {
		var items []string
		for it := list.Iterator(); it.HasNext() == types.True; {
			item, err := encode(it.Next())
			if err != nil {
				return "", err
			}
			items = append(items, item)
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	}
	if m, ok := v.(traits.Mapper); ok {
		var entries []string
		for it := m.Iterator(); it.HasNext() == types.True; {
			key := it.Next()
			k, err := encode(key)
			if err != nil {
				return "", err
			}
			value, err := encode(m.Get(key))
			if err != nil {
				return "", err
			}
			entries = append(entries, k+": "+value)
		}
		sort.Strings(entries)
		return "{" + strings.Join(entries, ", ") + "}", nil
	}
	if types.IsUnknownOrError(v) {
		return "", fmt.Errorf("%v", v)
	}
	// A library's value (Quantity, IP, URL...): its type only.
	return "<" + typeName(v) + ">", nil
}

// double prints shortest round-trip digits as Rust's {:e} does: 1.5e0, -0e0, 1e-7, NaN, inf.
func double(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	text := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, exponent, _ := strings.Cut(text, "e")
	e, _ := strconv.Atoi(exponent)
	return mantissa + "e" + strconv.Itoa(e)
}

// quote writes a string with printable ASCII as is and every other code point as \u{hex}.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "\\u{%x}", r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quoteBytes writes bytes with printable ASCII as is and every other byte as \xHH.
func quoteBytes(bytes []byte) string {
	var b strings.Builder
	b.WriteString("b\"")
	for _, c := range bytes {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
