package storage_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
)

// writeTestPKI writes a private CA and a certificate for 127.0.0.1 signed by it.
func writeTestPKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, leafKey := newKey(), newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "space test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM("ca.pem", "CERTIFICATE", caDER), writePEM("cert.pem", "CERTIFICATE", leafDER),
		writePEM("key.pem", "EC PRIVATE KEY", keyDER)
}

// TestIntegrationPrivateCA: HTTPS to a gateway whose certificate a private CA signed, through
// the environment a worker would have (S3_CA_BUNDLE), and the error without that CA.
func TestIntegrationPrivateCA(t *testing.T) {
	caFile, certFile, keyFile := writeTestPKI(t)
	stk := stacktest.Start(t, stack.Options{SkipTemporal: true, S3TLSCert: certFile, S3TLSKey: keyFile, S3CABundle: caFile})
	if !strings.HasPrefix(stk.S3Endpoint(), "https://") {
		t.Fatalf("endpoint %s", stk.S3Endpoint())
	}
	ctx := testCtx(t)
	for _, kv := range stk.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := storage.ConfigFromEnv()
	if cfg.CABundle != caFile || cfg.Endpoint != stk.S3Endpoint() || !cfg.PathStyle {
		t.Fatalf("ConfigFromEnv = %v", cfg)
	}
	st := newStore(t, cfg)
	obj, err := st.Put(ctx, storage.SpecKey("tls"), []byte("over https"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, obj.Key, obj.SHA256); err != nil || string(got) != "over https" {
		t.Fatalf("Get = %q, %v", got, err)
	}

	cfg.CABundle = ""
	t.Setenv("AWS_CA_BUNDLE", "") // the SDK would read it by itself
	t.Setenv("S3_CA_BUNDLE", "")
	_, err = newStore(t, cfg).Get(ctx, obj.Key, "")
	var te *storage.TLSError
	if !errors.As(err, &te) || !storage.IsPermanent(err) || !strings.Contains(err.Error(), "S3_CA_BUNDLE") {
		t.Fatalf("without the CA: %T %v", err, err)
	}
	t.Logf("without the CA: %v", err)
}
