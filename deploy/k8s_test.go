// Package deploy holds no code: its tests check what is deployed. The
// Kubernetes manifests of deploy/k8s are decoded with the Kubernetes API
// types in strict mode, as written and as kustomize renders each overlay,
// and checked for what every kycflow pod must have (probes, limits,
// non-root, read-only root, no capabilities, a PodDisruptionBudget and an
// autoscaler, documented variables); docker-compose.yml is checked the
// same way; and every metric the Grafana dashboard and the alert rules
// use must be one the code exports.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest and where it came from.
type object struct {
	source string // file, or "overlay <name>"
	kind   string
	name   string
	obj    any
}

// newObject returns a pointer to the API type of apiVersion and kind, or
// nil for a kind kycflow's manifests do not use.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}
	}
	return nil
}

// decodeAll splits a YAML stream into documents and decodes each with its
// API type, rejecting unknown and duplicate fields. Documents without a
// kind (kustomization.yaml, routes files) are skipped.
func decodeAll(t *testing.T, source string, data []byte) []object {
	t.Helper()
	var out []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		if tm.Kind == "" || tm.APIVersion == "kustomize.config.k8s.io/v1beta1" {
			continue
		}
		obj := newObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			t.Errorf("%s: %s %s: no API type in this test; add it", source, tm.APIVersion, tm.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %s: %v", source, tm.Kind, err)
			continue
		}
		name := ""
		if m, ok := obj.(metav1.Object); ok {
			name = m.GetName()
		}
		out = append(out, object{source: source, kind: tm.Kind, name: name, obj: obj})
	}
}

// manifestFiles returns every YAML file under deploy/k8s.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("k8s", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests under deploy/k8s")
	}
	return files
}

// TestManifestsDecodeStrictly decodes every manifest as written, patches
// and Secret templates included.
func TestManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, f := range manifestFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeAll(t, f, data) {
			kinds[o.kind]++
		}
	}
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "Ingress", "Secret", "StatefulSet"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in deploy/k8s", k)
		}
	}
}

// TestSecretTemplatesHoldPlaceholders: the committed Secrets of the prod
// templates hold placeholders only.
func TestSecretTemplatesHoldPlaceholders(t *testing.T) {
	files, err := filepath.Glob("k8s/overlays/prod/secrets/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Secret templates: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeAll(t, f, data) {
			s, ok := o.obj.(*corev1.Secret)
			if !ok {
				t.Errorf("%s: %s in the Secret templates", f, o.kind)
				continue
			}
			if len(s.Data) > 0 {
				t.Errorf("%s: Secret %s has data; templates use stringData placeholders", f, s.Name)
			}
			for k, v := range s.StringData {
				if !strings.HasPrefix(v, "REPLACE_") {
					t.Errorf("%s: Secret %s key %s is not a REPLACE_… placeholder", f, s.Name, k)
				}
			}
		}
	}
}

// renderer returns the command that renders a kustomization: kubectl
// kustomize, or kustomize build; "" when neither is installed (CI
// installs one; .ci/run renders the overlays itself too).
func renderer() []string {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return []string{p, "kustomize"}
	}
	if p, err := exec.LookPath("kustomize"); err == nil {
		return []string{p, "build"}
	}
	return nil
}

// render runs kustomize on an overlay and decodes the result.
func render(t *testing.T, overlay string) []object {
	t.Helper()
	cmd := renderer()
	if cmd == nil {
		t.Skip("neither kubectl nor kustomize on PATH")
	}
	dir := filepath.Join("k8s", "overlays", overlay)
	out, err := exec.Command(cmd[0], append(cmd[1:], dir)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s: %v\n%s", strings.Join(cmd, " "), dir, err, ee.Stderr)
		}
		t.Fatalf("%s %s: %v", strings.Join(cmd, " "), dir, err)
	}
	return decodeAll(t, "overlay "+overlay, out)
}

func TestOverlayDev(t *testing.T) {
	objs := render(t, "dev")
	checkOverlay(t, objs)
	if got := configValue(t, objs, "KYCFLOW_STREAM_REPLICAS"); got != "1" {
		t.Errorf("dev KYCFLOW_STREAM_REPLICAS = %q, want 1 (one NATS node)", got)
	}
	sts := byKind[*appsv1.StatefulSet](objs)
	if len(sts) != 1 || sts[0].Name != "nats" || sts[0].Spec.Replicas == nil || *sts[0].Spec.Replicas != 1 {
		t.Errorf("dev: want one NATS StatefulSet with one replica, got %d StatefulSets", len(sts))
	}
	if findDeployment(objs, "jumiosim") == nil {
		t.Error("dev: no jumiosim Deployment")
	}
}

func TestOverlayProd(t *testing.T) {
	objs := render(t, "prod")
	checkOverlay(t, objs)
	if got := configValue(t, objs, "KYCFLOW_STREAM_REPLICAS"); got != "3" {
		t.Errorf("prod KYCFLOW_STREAM_REPLICAS = %q, want 3 (R3 streams)", got)
	}
	if got := configValue(t, objs, "KYCFLOW_NATS_URL"); strings.Contains(got, "nats://nats:4222") {
		t.Errorf("prod KYCFLOW_NATS_URL = %q, want the external cluster", got)
	}
	if n := len(byKind[*appsv1.StatefulSet](objs)); n != 0 {
		t.Errorf("prod runs %d StatefulSets; NATS is the Helm release of deploy/nats", n)
	}
	if findDeployment(objs, "jumiosim") != nil {
		t.Error("prod runs the Jumio simulator")
	}
	// Secrets are created out of band from the templates; the overlay
	// ships none, and every Secret it names has a template.
	if s := byKind[*corev1.Secret](objs); len(s) != 0 {
		t.Errorf("prod renders %d Secrets; want none (templates only)", len(s))
	}
	templates := map[string]bool{}
	files, _ := filepath.Glob("k8s/overlays/prod/secrets/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeAll(t, f, data) {
			templates[o.name] = true
		}
	}
	for _, name := range secretRefs(objs) {
		if !templates[name] {
			t.Errorf("prod names Secret %s, which has no template in secrets/", name)
		}
	}
	for _, d := range byKind[*appsv1.Deployment](objs) {
		for _, c := range d.Spec.Template.Spec.Containers {
			checkReleaseImage(t, d.Name, c.Image)
		}
	}
	// The callback endpoint, and only it, behind TLS (checkIngresses: the
	// paths and the port).
	ings := byKind[*networkingv1.Ingress](objs)
	if len(ings) == 0 {
		t.Fatal("prod: no Ingress")
	}
	for _, ing := range ings {
		if len(ing.Spec.TLS) == 0 {
			t.Errorf("Ingress %s has no TLS", ing.Name)
		}
	}
	// X-Forwarded-For is read from the ingress controller's own
	// addresses only, never from a pod or node network, whose every pod
	// could name a Jumio address in the header (docs/operations.md,
	// "Trusted proxies").
	if d := findDeployment(objs, "ingest"); d != nil {
		proxies := envValue(d.Spec.Template.Spec.Containers[0], "KYCFLOW_INGEST_TRUSTED_PROXIES")
		checkTrustedProxies(t, proxies)
		// The controller runs on hostNetwork (the overlay's assumption):
		// its connections come from its nodes' addresses, which a pod
		// selector does not match on most CNIs. The NetworkPolicy admits
		// each of them, or every callback is dropped before ingest.
		for _, s := range strings.Split(proxies, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && !admitsByAddress(objs, d, a) {
				t.Errorf("prod ingest: the NetworkPolicy does not admit the ingress controller's address %s (KYCFLOW_INGEST_TRUSTED_PROXIES) to the callback port", a)
			}
		}
	} else {
		t.Error("prod: no ingest Deployment")
	}
	// Jumio answers 403 without a User-Agent naming the company and the
	// application: the base holds a placeholder, prod sets one.
	if d := findDeployment(objs, "enricher"); d != nil {
		if ua := envValue(d.Spec.Template.Spec.Containers[0], "KYCFLOW_JUMIO_USER_AGENT"); ua == "" || ua == baseUserAgent(t) {
			t.Errorf("prod enricher: KYCFLOW_JUMIO_USER_AGENT = %q, want the overlay's own value", ua)
		}
	}
}

// baseUserAgent returns the base's KYCFLOW_JUMIO_USER_AGENT for the
// enricher, and checks that it is an obvious placeholder.
func baseUserAgent(t *testing.T) string {
	t.Helper()
	const f = "k8s/base/enricher.yaml"
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range decodeAll(t, f, data) {
		if d, ok := o.obj.(*appsv1.Deployment); ok && d.Name == "enricher" {
			ua := envValue(d.Spec.Template.Spec.Containers[0], "KYCFLOW_JUMIO_USER_AGENT")
			if !strings.Contains(ua, "REPLACE_") {
				t.Errorf("%s: KYCFLOW_JUMIO_USER_AGENT = %q, want a REPLACE_… placeholder that overlays override", f, ua)
			}
			return ua
		}
	}
	t.Fatalf("%s: no enricher Deployment", f)
	return ""
}

func checkReleaseImage(t *testing.T, deployment, image string) {
	t.Helper()
	if strings.Contains(image, "@sha256:") {
		return
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		t.Errorf("prod %s: image %q has no tag", deployment, image)
		return
	}
	if tag := image[i+1:]; tag == "latest" || tag == "dev" || tag == "" {
		t.Errorf("prod %s: image %q: want a release tag or digest", deployment, image)
	}
}

// byKind returns the objects of type T.
func byKind[T any](objs []object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func findDeployment(objs []object, name string) *appsv1.Deployment {
	for _, d := range byKind[*appsv1.Deployment](objs) {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// configValue returns a key of the rendered kycflow-env ConfigMap.
func configValue(t *testing.T, objs []object, key string) string {
	t.Helper()
	for _, cm := range byKind[*corev1.ConfigMap](objs) {
		if strings.HasPrefix(cm.Name, "kycflow-env") {
			return cm.Data[key]
		}
	}
	t.Fatal("no kycflow-env ConfigMap")
	return ""
}

// kycflowServices are the Deployments every overlay must run, with their
// admin port: the container port named adminPortName, which serves
// /healthz, /readyz and /metrics.
var kycflowServices = map[string]int32{"ingest": 9090, "enricher": 8081, "notifier": 8082}

const (
	// adminPortName names the admin port on every kycflow pod; the probes
	// and the monitoring network policy refer to it.
	adminPortName = "http"
	// callbackPortName and callbackPort are ingest's callback port, which
	// serves /callbacks/... only (KYCFLOW_INGEST_ADDR).
	callbackPortName = "callbacks"
	callbackPort     = 8080
)

// checkOverlay checks the invariants of a rendered overlay.
func checkOverlay(t *testing.T, objs []object) {
	t.Helper()
	documented := readmeVars(t)
	deployments := byKind[*appsv1.Deployment](objs)
	for name := range kycflowServices {
		if findDeployment(objs, name) == nil {
			t.Errorf("no %s Deployment", name)
		}
	}
	for _, d := range deployments {
		checkPod(t, "Deployment "+d.Name, &d.Spec.Template.Spec)
		if port, ok := kycflowServices[d.Name]; ok {
			checkKycflowContainer(t, d, port, documented)
			checkPDB(t, objs, d)
			checkHPA(t, objs, d)
		}
	}
	for _, s := range byKind[*appsv1.StatefulSet](objs) {
		checkPod(t, "StatefulSet "+s.Name, &s.Spec.Template.Spec)
	}
	for _, cm := range byKind[*corev1.ConfigMap](objs) {
		if !strings.HasPrefix(cm.Name, "kycflow-env") {
			continue
		}
		for k := range cm.Data {
			checkDocumented(t, "ConfigMap kycflow-env", k, documented)
		}
	}
	checkServices(t, objs)
	checkReferences(t, objs)
	checkNetworkPolicies(t, objs)
	checkEgress(t, objs)
	checkIngresses(t, objs)
}

// checkPod: what every pod of the namespace must have, kycflow's or not.
func checkPod(t *testing.T, what string, spec *corev1.PodSpec) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", what)
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", what)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext.runAsUser is unset or root", what)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", what)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: shares a host namespace", what)
	}
	if len(spec.InitContainers) > 0 {
		t.Errorf("%s: has init containers; check them here too", what)
	}
	for _, c := range spec.Containers {
		cw := what + " container " + c.Name
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s: readiness and liveness probes required", cw)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", cw, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("%s: no %s limit", cw, r)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", cw)
			continue
		case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Errorf("%s: runAsNonRoot is not true", cw)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", cw)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", cw)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: privileged", cw)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities: want drop ALL and nothing added", cw)
		}
		if strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %s", cw, c.Image)
		}
	}
}

// checkKycflowContainer: the probes of a kycflow service are its /readyz
// and /healthz on its admin port, Prometheus is told to scrape that port,
// it listens where its ports say, and every variable it is given is
// documented.
func checkKycflowContainer(t *testing.T, d *appsv1.Deployment, port int32, documented map[string]bool) {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Errorf("Deployment %s: %d containers, want 1", d.Name, len(cs))
		return
	}
	c := cs[0]
	if !slices.Equal(c.Command, []string{d.Name}) {
		t.Errorf("Deployment %s: command %q, want [%s]", d.Name, c.Command, d.Name)
	}
	want := []corev1.ContainerPort{{Name: adminPortName, ContainerPort: port, Protocol: corev1.ProtocolTCP}}
	if d.Name == "ingest" {
		want = append(want, corev1.ContainerPort{Name: callbackPortName, ContainerPort: callbackPort, Protocol: corev1.ProtocolTCP})
	}
	if diff := cmp.Diff(want, c.Ports, cmpopts.SortSlices(func(a, b corev1.ContainerPort) bool { return a.Name < b.Name })); diff != "" {
		t.Errorf("Deployment %s: ports (-want +got):\n%s", d.Name, diff)
	}
	// The service listens where the ports say.
	prefix := "KYCFLOW_" + strings.ToUpper(d.Name) + "_"
	adminVar := prefix + "ADDR"
	if d.Name == "ingest" {
		adminVar = prefix + "ADMIN_ADDR"
		if got := listenPort(envValue(c, prefix+"ADDR")); got != callbackPort {
			t.Errorf("Deployment ingest: %sADDR listens on port %d, want the callback port %d", prefix, got, callbackPort)
		}
	}
	if got := listenPort(envValue(c, adminVar)); got != port {
		t.Errorf("Deployment %s: %s listens on port %d, want the admin port %d", d.Name, adminVar, got, port)
	}
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{
		{"startup", "/healthz", c.StartupProbe},
		{"liveness", "/healthz", c.LivenessProbe},
		{"readiness", "/readyz", c.ReadinessProbe},
	} {
		if p.probe == nil && p.name == "startup" {
			continue
		}
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("Deployment %s: no HTTP %s probe", d.Name, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("Deployment %s: %s probe %q, want %s", d.Name, p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := resolvePort(c.Ports, p.probe.HTTPGet.Port); got != port {
			t.Errorf("Deployment %s: %s probe on port %s (%d), want the admin port %d", d.Name, p.name, p.probe.HTTPGet.Port.String(), got, port)
		}
	}
	ann := d.Spec.Template.Annotations
	if got, want := ann["prometheus.io/port"], strconv.Itoa(int(port)); got != want || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("Deployment %s: Prometheus scrapes port %s path %s, want the admin port %s path /metrics", d.Name, got, ann["prometheus.io/path"], want)
	}
	for _, e := range c.Env {
		checkDocumented(t, "Deployment "+d.Name, e.Name, documented)
	}
}

// checkDocumented: a KYCFLOW_* or OTEL_* variable is in a README table
// (NAME_FILE counts for NAME).
func checkDocumented(t *testing.T, what, name string, documented map[string]bool) {
	t.Helper()
	if !strings.HasPrefix(name, "KYCFLOW_") && !strings.HasPrefix(name, "OTEL_") {
		return
	}
	if documented[name] || documented[strings.TrimSuffix(name, "_FILE")] {
		return
	}
	t.Errorf("%s: variable %s is not in a README table", what, name)
}

func matches(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(labels.Set(podLabels))
}

func checkPDB(t *testing.T, objs []object, d *appsv1.Deployment) {
	t.Helper()
	for _, p := range byKind[*policyv1.PodDisruptionBudget](objs) {
		if matches(p.Spec.Selector, d.Spec.Template.Labels) {
			return
		}
	}
	t.Errorf("Deployment %s: no PodDisruptionBudget selects its pods", d.Name)
}

func checkHPA(t *testing.T, objs []object, d *appsv1.Deployment) {
	t.Helper()
	for _, h := range byKind[*autoscalingv2.HorizontalPodAutoscaler](objs) {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != d.Name {
			continue
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: replicas %v..%d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas; its autoscaler owns them", d.Name)
		}
		return
	}
	t.Errorf("Deployment %s: no HorizontalPodAutoscaler targets it", d.Name)
}

// checkServices: every Service selects some pod and names a port the pod
// has.
func checkServices(t *testing.T, objs []object) {
	t.Helper()
	type pod struct {
		labels map[string]string
		ports  []corev1.ContainerPort
	}
	var pods []pod
	for _, d := range byKind[*appsv1.Deployment](objs) {
		pods = append(pods, pod{d.Spec.Template.Labels, d.Spec.Template.Spec.Containers[0].Ports})
	}
	for _, s := range byKind[*appsv1.StatefulSet](objs) {
		pods = append(pods, pod{s.Spec.Template.Labels, s.Spec.Template.Spec.Containers[0].Ports})
	}
	for _, svc := range byKind[*corev1.Service](objs) {
		var found *pod
		for i, p := range pods {
			if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.labels)) {
				found = &pods[i]
			}
		}
		if found == nil {
			t.Errorf("Service %s selects no pod", svc.Name)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if !slices.ContainsFunc(found.ports, func(cp corev1.ContainerPort) bool { return cp.Name == sp.TargetPort.StrVal }) {
				t.Errorf("Service %s: target port %q is not a named port of its pods", svc.Name, sp.TargetPort.String())
			}
		}
	}
}

// secretRefs returns the names of the Secrets the pods use.
func secretRefs(objs []object) []string {
	var names []string
	add := func(spec *corev1.PodSpec) {
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				names = append(names, v.Secret.SecretName)
			}
		}
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					names = append(names, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
	for _, d := range byKind[*appsv1.Deployment](objs) {
		add(&d.Spec.Template.Spec)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// checkReferences: every ConfigMap a pod uses is rendered, and in an
// overlay that renders Secrets, so is every Secret it uses.
func checkReferences(t *testing.T, objs []object) {
	t.Helper()
	have := map[string]bool{}
	for _, o := range objs {
		have[o.kind+"/"+o.name] = true
	}
	pods := map[string]*corev1.PodSpec{}
	for _, d := range byKind[*appsv1.Deployment](objs) {
		pods["Deployment "+d.Name] = &d.Spec.Template.Spec
	}
	for _, s := range byKind[*appsv1.StatefulSet](objs) {
		pods["StatefulSet "+s.Name] = &s.Spec.Template.Spec
	}
	rendersSecrets := len(byKind[*corev1.Secret](objs)) > 0
	for what, spec := range pods {
		for _, v := range spec.Volumes {
			if v.ConfigMap != nil && !have["ConfigMap/"+v.ConfigMap.Name] {
				t.Errorf("%s: ConfigMap %s is not rendered", what, v.ConfigMap.Name)
			}
			optional := v.Secret != nil && v.Secret.Optional != nil && *v.Secret.Optional
			if v.Secret != nil && rendersSecrets && !optional && !have["Secret/"+v.Secret.SecretName] {
				t.Errorf("%s: Secret %s is not rendered", what, v.Secret.SecretName)
			}
		}
		for _, c := range spec.Containers {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil && !have["ConfigMap/"+e.ConfigMapRef.Name] {
					t.Errorf("%s: ConfigMap %s is not rendered", what, e.ConfigMapRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && rendersSecrets && !have["Secret/"+e.ValueFrom.SecretKeyRef.Name] {
					t.Errorf("%s: Secret %s is not rendered", what, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
}

// checkNetworkPolicies: the namespace denies by default; ingest takes
// traffic from the ingress controller on its callback port only, and from
// no other namespace; the monitoring namespace reaches the admin port of
// each kycflow pod and no other port.
func checkNetworkPolicies(t *testing.T, objs []object) {
	t.Helper()
	denyAll := false
	for _, np := range byKind[*networkingv1.NetworkPolicy](objs) {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 && len(np.Spec.PolicyTypes) == 2 {
			denyAll = true
		}
	}
	if !denyAll {
		t.Error("no default-deny NetworkPolicy")
	}
	for name, admin := range kycflowServices {
		d := findDeployment(objs, name)
		if d == nil {
			continue
		}
		ports := d.Spec.Template.Spec.Containers[0].Ports
		for _, rule := range ingressRules(objs, d) {
			what := "NetworkPolicy " + rule.policy + ": " + name
			if len(rule.From) == 0 {
				t.Errorf("%s open to every source", what)
			}
			for _, from := range rule.From {
				if from.IPBlock != nil && name == "ingest" {
					// Only the ingress controller's own addresses (on
					// hostNetwork its nodes'), which ingest trusts as
					// its proxies, and only to the callback port.
					checkIngressControllerBlock(t, what, from.IPBlock, d, rule.Ports, ports)
				}
				if from.NamespaceSelector == nil {
					continue // a pod of this namespace
				}
				var want int32
				switch ns := from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; {
				case ns == "monitoring":
					want = admin
				case ns == "ingress-nginx" && name == "ingest":
					want = callbackPort
				case name == "ingest":
					t.Errorf("%s open to namespaces %v", what, from.NamespaceSelector)
					continue
				default:
					continue
				}
				if len(rule.Ports) == 0 {
					t.Errorf("%s: namespace %v reaches every port, want only %d", what, from.NamespaceSelector.MatchLabels, want)
				}
				for _, p := range rule.Ports {
					port := ptrValue(p.Port)
					if got := resolvePort(ports, port); got != want {
						t.Errorf("%s: namespace %v reaches port %s (%d), want only %d", what, from.NamespaceSelector.MatchLabels, port.String(), got, want)
					}
				}
			}
		}
	}
}

// checkIngressControllerBlock: an ipBlock that reaches ingest is one of
// the addresses of KYCFLOW_INGEST_TRUSTED_PROXIES (the ingress
// controller's), with no exceptions, and reaches the callback port only.
func checkIngressControllerBlock(t *testing.T, what string, b *networkingv1.IPBlock, d *appsv1.Deployment, rulePorts []networkingv1.NetworkPolicyPort, ports []corev1.ContainerPort) {
	t.Helper()
	trusted := map[string]bool{}
	for _, s := range strings.Split(envValue(d.Spec.Template.Spec.Containers[0], "KYCFLOW_INGEST_TRUSTED_PROXIES"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			s = netip.PrefixFrom(a, a.BitLen()).String()
		}
		trusted[s] = true
	}
	if !trusted[b.CIDR] || len(b.Except) > 0 {
		t.Errorf("%s open to %s, which is not one of the ingress controller's addresses in KYCFLOW_INGEST_TRUSTED_PROXIES; callbacks come through the controller", what, b.CIDR)
	}
	if len(rulePorts) == 0 {
		t.Errorf("%s: %s reaches every port, want only %d", what, b.CIDR, callbackPort)
	}
	for _, p := range rulePorts {
		if got := resolvePort(ports, ptrValue(p.Port)); got != callbackPort {
			t.Errorf("%s: %s reaches port %d, want only %d", what, b.CIDR, got, callbackPort)
		}
	}
}

// admitsByAddress reports whether a NetworkPolicy rule selecting d's pods
// admits address a by ipBlock to the callback port.
func admitsByAddress(objs []object, d *appsv1.Deployment, a netip.Addr) bool {
	ports := d.Spec.Template.Spec.Containers[0].Ports
	for _, rule := range ingressRules(objs, d) {
		reaches := false
		for _, p := range rule.Ports {
			reaches = reaches || resolvePort(ports, ptrValue(p.Port)) == callbackPort
		}
		for _, from := range rule.From {
			if from.IPBlock == nil || !reaches {
				continue
			}
			if p, err := netip.ParsePrefix(from.IPBlock.CIDR); err == nil && p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// privateRanges are the ranges an egress rule to public addresses must
// leave out: the cluster's own networks and the cloud metadata service.
var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"}

// publicEgress names the kycflow pods that reach addresses outside the
// cluster: the enricher (Jumio) and the notifier (webhook receivers).
var publicEgress = map[string]bool{"enricher": true, "notifier": true}

// checkEgress: every egress rule of a kycflow pod names its ports and its
// peers. Peers in the cluster are pods picked by label (DNS, NATS, the
// collector, the simulator in dev), never every pod. Only the enricher and
// the notifier reach addresses outside the cluster, on 443 only, and
// never the private ranges; ingest reaches nothing outside.
func checkEgress(t *testing.T, objs []object) {
	t.Helper()
	for name := range kycflowServices {
		d := findDeployment(objs, name)
		if d == nil {
			continue
		}
		public := false
		for _, np := range byKind[*networkingv1.NetworkPolicy](objs) {
			if !matches(&np.Spec.PodSelector, d.Spec.Template.Labels) {
				continue
			}
			for _, rule := range np.Spec.Egress {
				what := "NetworkPolicy " + np.Name + ": " + name
				if len(rule.To) == 0 {
					t.Errorf("%s may reach every destination", what)
				}
				if len(rule.Ports) == 0 {
					t.Errorf("%s may reach every port", what)
				}
				for _, to := range rule.To {
					if to.IPBlock == nil {
						if to.PodSelector == nil || len(to.PodSelector.MatchLabels) == 0 && len(to.PodSelector.MatchExpressions) == 0 {
							t.Errorf("%s may reach every pod of %v", what, to.NamespaceSelector)
						}
						continue
					}
					public = true
					if !publicEgress[name] {
						t.Errorf("%s reaches %s; it has no business outside the cluster", what, to.IPBlock.CIDR)
					}
					for _, r := range privateRanges {
						if to.IPBlock.CIDR == "0.0.0.0/0" && !slices.Contains(to.IPBlock.Except, r) {
							t.Errorf("%s reaches %s without excepting %s", what, to.IPBlock.CIDR, r)
						}
					}
					for _, p := range rule.Ports {
						if port := ptrValue(p.Port); port.IntValue() != 443 {
							t.Errorf("%s reaches %s on port %s, want only 443", what, to.IPBlock.CIDR, port.String())
						}
					}
				}
			}
		}
		if publicEgress[name] && !public {
			t.Errorf("%s has no egress to public addresses on 443", name)
		}
	}
}

// policyRule is an ingress rule of a NetworkPolicy.
type policyRule struct {
	policy string
	networkingv1.NetworkPolicyIngressRule
}

// ingressRules returns the ingress rules of every NetworkPolicy that
// selects d's pods.
func ingressRules(objs []object, d *appsv1.Deployment) []policyRule {
	var out []policyRule
	for _, np := range byKind[*networkingv1.NetworkPolicy](objs) {
		if !matches(&np.Spec.PodSelector, d.Spec.Template.Labels) {
			continue
		}
		for _, r := range np.Spec.Ingress {
			out = append(out, policyRule{np.Name, r})
		}
	}
	return out
}

// checkIngresses: every Ingress path is under /callbacks/ and goes to
// ingest's callback port.
func checkIngresses(t *testing.T, objs []object) {
	t.Helper()
	ingest := findDeployment(objs, "ingest")
	for _, ing := range byKind[*networkingv1.Ingress](objs) {
		if ing.Spec.DefaultBackend != nil {
			t.Errorf("Ingress %s has a default backend; only /callbacks/ belongs on the internet", ing.Name)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if !strings.HasPrefix(p.Path, "/callbacks/") {
					t.Errorf("Ingress %s exposes %s; only /callbacks/ belongs on the internet", ing.Name, p.Path)
				}
				svc := p.Backend.Service
				if svc == nil || svc.Name != "ingest" || ingest == nil {
					t.Errorf("Ingress %s path %s: backend %+v, want the ingest Service", ing.Name, p.Path, p.Backend)
					continue
				}
				if got := servicePort(objs, ingest, svc); got != callbackPort {
					t.Errorf("Ingress %s path %s: goes to ingest port %d, want the callback port %d", ing.Name, p.Path, got, callbackPort)
				}
			}
		}
	}
}

// servicePort returns the container port of d that backend reaches
// through its Service, 0 when it reaches none.
func servicePort(objs []object, d *appsv1.Deployment, backend *networkingv1.IngressServiceBackend) int32 {
	for _, svc := range byKind[*corev1.Service](objs) {
		if svc.Name != backend.Name {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if (backend.Port.Name != "" && sp.Name == backend.Port.Name) || (backend.Port.Name == "" && sp.Port == backend.Port.Number) {
				return resolvePort(d.Spec.Template.Spec.Containers[0].Ports, sp.TargetPort)
			}
		}
	}
	return 0
}

// resolvePort returns the container port a named or numbered port refers
// to, 0 when it names none.
func resolvePort(ports []corev1.ContainerPort, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// envValue returns the value of an environment variable of c.
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// listenPort returns the port of a "host:port" listen address, 0 when it
// has none.
func listenPort(addr string) int32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// readmeVars returns the variables of the README's tables.
func readmeVars(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range readmeVarRE.FindAllSubmatch(data, -1) {
		vars[string(m[1])] = true
	}
	if len(vars) < 20 {
		t.Fatalf("found %d variables in the README tables", len(vars))
	}
	return vars
}

var readmeVarRE = regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|")

// TestRoutesFiles: the routes files deployed (compose, base, prod) are
// valid for the notifier; secret files are taken as present.
func TestRoutesFiles(t *testing.T) {
	checkRoutesFiles(t, "compose/routes.yaml", "k8s/base/routes.yaml", "k8s/overlays/prod/routes.yaml")
}

// checkTrustedProxies wants a list of single addresses or prefixes of at
// most 8 addresses: a few ingress nodes or controller pods, not a network.
func checkTrustedProxies(t *testing.T, list string) {
	t.Helper()
	if strings.TrimSpace(list) == "" {
		t.Error("prod ingest: KYCFLOW_INGEST_TRUSTED_PROXIES unset: behind the ingress every callback comes from the controller")
		return
	}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				t.Errorf("prod ingest: KYCFLOW_INGEST_TRUSTED_PROXIES entry %q is neither an address nor a prefix", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if host := p.Addr().BitLen() - p.Bits(); host > 3 {
			t.Errorf("prod ingest: KYCFLOW_INGEST_TRUSTED_PROXIES entry %s spans %d addresses: name the ingress controller's addresses, not a network", s, 1<<min(host, 62))
		}
	}
}
