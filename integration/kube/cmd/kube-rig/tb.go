package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
)

// rigTB is the ktesting.TB that StartTestServer needs outside `go test`: logs go to stderr, a
// fatal error ends the process, and cleanups run (last first) when the rig stops.
type rigTB struct {
	name     string
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	tempDirs []string
}

func newRigTB(name string) *rigTB { return &rigTB{name: name} }

func (t *rigTB) runCleanups() {
	t.mu.Lock()
	cleanups := t.cleanups
	t.cleanups = nil
	dirs := t.tempDirs
	t.tempDirs = nil
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

func (t *rigTB) Attr(key, value string) { t.Logf("attr %s=%s", key, value) }
func (t *rigTB) Chdir(dir string) {
	if err := os.Chdir(dir); err != nil {
		t.Fatalf("chdir %s: %v", dir, err)
	}
}
func (t *rigTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *rigTB) Error(args ...any) { t.Log(args...); t.Fail() }
func (t *rigTB) Errorf(format string, args ...any) {
	t.Logf(format, args...)
	t.Fail()
}
func (t *rigTB) Fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
}
func (t *rigTB) FailNow() {
	fmt.Fprintln(os.Stderr, "kube-rig: fatal error, stopping")
	os.Exit(1)
}
func (t *rigTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *rigTB) Fatal(args ...any)                 { t.Log(args...); t.FailNow() }
func (t *rigTB) Fatalf(format string, args ...any) { t.Logf(format, args...); t.FailNow() }
func (t *rigTB) Helper()                           {}
func (t *rigTB) Log(args ...any)                   { fmt.Fprintln(os.Stderr, append([]any{t.name + ":"}, args...)...) }
func (t *rigTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, t.name+": "+format+"\n", args...)
}
func (t *rigTB) Name() string { return t.name }
func (t *rigTB) Setenv(key, value string) {
	if err := os.Setenv(key, value); err != nil {
		t.Fatalf("setenv %s: %v", key, err)
	}
}
func (t *rigTB) Skip(args ...any) { t.Fatal(append([]any{"skip is not supported:"}, args...)...) }
func (t *rigTB) Skipf(format string, args ...any) {
	t.Fatalf("skip is not supported: "+format, args...)
}
func (t *rigTB) SkipNow()      { t.Fatal("skip is not supported") }
func (t *rigTB) Skipped() bool { return false }
func (t *rigTB) TempDir() string {
	dir, err := os.MkdirTemp("", "kube-rig-tb-")
	if err != nil {
		t.Fatalf("temporary directory: %v", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tempDirs = append(t.tempDirs, dir)
	return dir
}

// randomToken is a bearer token for the admin user: 32 random bytes in hex.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
