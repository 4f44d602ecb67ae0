// Command kube-rig runs a real control plane for cmek-gate's integration tests: an embedded etcd
// and kube-apiserver (Kubernetes' own integration-test server, StartTestServer) on loopback.
//
// It writes an admin kubeconfig, prints one JSON line to stdout once /readyz answers and the
// admission APIs the tests need are served, and runs until its stdin is closed or it gets SIGTERM
// or SIGINT; then it stops the API server and etcd and removes its temporary directory. Its logs
// (kube-apiserver's and etcd's) go to stderr.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
)

// auditPolicy records the requests for the resources cmek-gate judges, and the webhook
// configurations, at level Request (the object sent, and the admission webhooks' audit
// annotations); everything else is not recorded.
//
//go:embed audit-policy.yaml
var auditPolicy []byte

// adminUser is the user of the kubeconfig the rig writes: a member of system:masters.
const adminUser = "kube-rig-admin"

// requiredResources are the admissionregistration.k8s.io/v1 resources the tests use; the rig
// refuses to report ready when the API server does not serve one of them.
var requiredResources = []string{
	"validatingwebhookconfigurations",
	"mutatingwebhookconfigurations",
	"validatingadmissionpolicies",
	"validatingadmissionpolicybindings",
	"mutatingadmissionpolicies",
	"mutatingadmissionpolicybindings",
}

// readyLine is the one line printed on stdout when the control plane is ready.
type readyLine struct {
	Ready      bool   `json:"ready"`
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	AuditLog   string `json:"auditLog"`
}

func main() {
	kubeconfigPath := flag.String("kubeconfig", "", "where to write the admin kubeconfig (required)")
	auditLogPath := flag.String("audit-log", "", "the API server's audit log file (required)")
	flag.Parse()
	if *kubeconfigPath == "" || *auditLogPath == "" {
		fmt.Fprintln(os.Stderr, "kube-rig: --kubeconfig and --audit-log are required")
		os.Exit(2)
	}
	if err := run(*kubeconfigPath, *auditLogPath); err != nil {
		fmt.Fprintf(os.Stderr, "kube-rig: %v\n", err)
		os.Exit(1)
	}
}

func run(kubeconfigPath, auditLogPath string) error {
	kubeconfigPath, err := filepath.Abs(kubeconfigPath)
	if err != nil {
		return err
	}
	auditLogPath, err = filepath.Abs(auditLogPath)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kube-rig-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	tb := newRigTB("kube-rig")
	defer tb.runCleanups()

	etcd, etcdURL, err := startEtcd(filepath.Join(dir, "etcd"))
	if err != nil {
		return err
	}
	defer etcd.Close()

	auditPolicyPath := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(auditPolicyPath, auditPolicy, 0o600); err != nil {
		return err
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, adminUser, adminUser)
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return err
	}

	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = []string{etcdURL}
	flags := []string{
		// admissionregistration.k8s.io/v1 serves ValidatingAdmissionPolicy (GA in 1.30) and
		// MutatingAdmissionPolicy (GA in 1.36, its gate on by default); named here so that a
		// change of default is a start failure, not a silently missing API.
		"--runtime-config=admissionregistration.k8s.io/v1=true",
		"--feature-gates=MutatingAdmissionPolicy=true",
		"--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,MutatingAdmissionPolicy,ValidatingAdmissionPolicy",
		"--audit-policy-file=" + auditPolicyPath,
		"--audit-log-path=" + auditLogPath,
		"--audit-log-format=json",
		"--audit-log-mode=blocking",
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
	}
	options := kubeapiservertesting.NewDefaultTestServerOptions()
	// The invariant checks scrape metrics at teardown; the rig only stops.
	options.DisableInvariantChecks = true
	server, err := kubeapiservertesting.StartTestServer(tb, options, flags, storage)
	if err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	defer server.TearDownFn()

	config := rest.CopyConfig(server.ClientConfig)
	config.BearerToken = token
	config.BearerTokenFile = ""
	if err := writeKubeconfig(kubeconfigPath, config); err != nil {
		return err
	}
	// The tests' client from here on: the kubeconfig just written, as kubectl reads it.
	written, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", kubeconfigPath, err)
	}
	if err := waitReady(written); err != nil {
		return err
	}
	line, err := json.Marshal(readyLine{Ready: true, Server: config.Host, Kubeconfig: kubeconfigPath, AuditLog: auditLogPath})
	if err != nil {
		return err
	}
	fmt.Println(string(line))

	stop := make(chan string, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop <- "stdin closed"
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		stop <- (<-signals).String()
	}()
	why := <-stop
	fmt.Fprintf(os.Stderr, "kube-rig: stopping (%s)\n", why)
	return nil
}

// startEtcd starts a one-member etcd on two free loopback ports, with its data in dir.
func startEtcd(dir string) (*embed.Etcd, string, error) {
	var lastErr error
	// A free port can be taken between choosing it and etcd binding it: try again then.
	for attempt := 0; attempt < 5; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, "", err
		}
		clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
		peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
		cfg := embed.NewConfig()
		cfg.Name = "kube-rig"
		cfg.Dir = dir
		cfg.ListenClientUrls = []url.URL{clientURL}
		cfg.AdvertiseClientUrls = []url.URL{clientURL}
		cfg.ListenPeerUrls = []url.URL{peerURL}
		cfg.AdvertisePeerUrls = []url.URL{peerURL}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.LogLevel = "warn"
		cfg.LogOutputs = []string{"stderr"}
		etcd, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			_ = os.RemoveAll(dir)
			continue
		}
		select {
		case <-etcd.Server.ReadyNotify():
			return etcd, clientURL.String(), nil
		case err := <-etcd.Err():
			etcd.Close()
			return nil, "", fmt.Errorf("etcd: %w", err)
		case <-time.After(60 * time.Second):
			etcd.Close()
			return nil, "", errors.New("etcd: not ready within 60 s")
		}
	}
	return nil, "", fmt.Errorf("etcd: %w", lastErr)
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeKubeconfig writes config (server, CA, TLS server name, bearer token) as a kubeconfig file.
func writeKubeconfig(path string, config *rest.Config) error {
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["kube-rig"] = &clientcmdapi.Cluster{
		Server:                   config.Host,
		CertificateAuthorityData: config.CAData,
		TLSServerName:            config.ServerName,
	}
	kubeconfig.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: config.BearerToken}
	kubeconfig.Contexts["kube-rig"] = &clientcmdapi.Context{Cluster: "kube-rig", AuthInfo: adminUser, Namespace: "default"}
	kubeconfig.CurrentContext = "kube-rig"
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// waitReady waits until /readyz answers ok and discovery lists every required resource.
func waitReady(config *rest.Config) error {
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		last = checkReady(client)
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready within 2 minutes: %w", last)
}

func checkReady(client *kubernetes.Clientset) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w (%s)", err, strings.TrimSpace(string(body)))
	}
	resources, err := client.Discovery().ServerResourcesForGroupVersion("admissionregistration.k8s.io/v1")
	if err != nil {
		return fmt.Errorf("discovery of admissionregistration.k8s.io/v1: %w", err)
	}
	served := sets.New[string]()
	for _, r := range resources.APIResources {
		served.Insert(r.Name)
	}
	if missing := sets.New(requiredResources...).Difference(served); missing.Len() > 0 {
		return fmt.Errorf("admissionregistration.k8s.io/v1 does not serve %v", sets.List(missing))
	}
	return nil
}
