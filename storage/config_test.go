package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const testSecret = "s3cr3t-Value-XYZ"

func TestConfigRedactsSecret(t *testing.T) {
	c := Config{Endpoint: "http://127.0.0.1:7070", Bucket: "space", AccessKey: "AKIDEXAMPLE1234", SecretKey: testSecret, SessionToken: "tok-ABC"}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("cfg", "s3", c)
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, &c), logBuf.String()} {
		if strings.Contains(s, testSecret) || strings.Contains(s, "tok-ABC") || strings.Contains(s, "AKIDEXAMPLE1234") {
			t.Errorf("secret or whole access key leaked: %s", s)
		}
		if !strings.Contains(s, "...1234") || !strings.Contains(s, "redacted") {
			t.Errorf("want the access key's last 4 characters and a redaction mark in %s", s)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, k := range []string{"S3_ENDPOINT", "S3_REGION", "AWS_REGION", "S3_BUCKET", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "S3_PATH_STYLE", "S3_CA_BUNDLE", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	c := ConfigFromEnv()
	if c.Region != "us-east-1" || c.Bucket != "space" || c.PathStyle || c.Endpoint != "" {
		t.Errorf("defaults: %v", c)
	}
	t.Setenv("S3_ENDPOINT", "http://127.0.0.1:9000")
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("S3_BUCKET", "b1")
	t.Setenv("AWS_ACCESS_KEY_ID", "ak")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sk")
	t.Setenv("AWS_CA_BUNDLE", "/etc/ca.pem")
	c = ConfigFromEnv()
	if !c.PathStyle || c.Region != "eu-west-3" || c.Bucket != "b1" || c.AccessKey != "ak" || c.SecretKey != "sk" || c.CABundle != "/etc/ca.pem" {
		t.Errorf("from env: %v", c)
	}
	t.Setenv("S3_REGION", "us-west-2")
	t.Setenv("S3_PATH_STYLE", "false")
	t.Setenv("S3_CA_BUNDLE", "/x.pem")
	c = ConfigFromEnv()
	if c.PathStyle || c.Region != "us-west-2" || c.CABundle != "/x.pem" {
		t.Errorf("overrides: %v", c)
	}
}

func TestUnsignedPayloadOnlyOverTLSOrLoopback(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"":                           true, // AWS S3, HTTPS
		"https://s3.example.com":     true,
		"HTTPS://gw.internal:9000":   true,
		"http://127.0.0.1:7070":      true,
		"http://127.8.0.1:7070":      true,
		"http://localhost:7070":      true,
		"http://[::1]:7070":          true,
		"http://10.0.0.5:7070":       false, // plain HTTP to another host: payload signed
		"http://minio.internal:9000": false,
		"http://localhost.evil.com":  false,
		"::not a url":                false,
	} {
		if got := (Config{Endpoint: endpoint}).UnsignedPayload(); got != want {
			t.Errorf("Config{Endpoint: %q}.UnsignedPayload() = %v, want %v", endpoint, got, want)
		}
	}
}

// The wiring, not just the rule: a Put to a loopback endpoint goes out with
// x-amz-content-sha256: UNSIGNED-PAYLOAD (the object's sha256 still in its metadata).
func TestPutSendsUnsignedPayloadToLoopback(t *testing.T) {
	var got, meta string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			got, meta = r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("X-Amz-Meta-Sha256")
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s, err := New(context.Background(), Config{Endpoint: srv.URL, Bucket: "b", PathStyle: true, AccessKey: "a", SecretKey: "s", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Put(context.Background(), "k/x", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if got != "UNSIGNED-PAYLOAD" || meta != obj.SHA256 {
		t.Errorf("x-amz-content-sha256 %q, x-amz-meta-sha256 %q: want UNSIGNED-PAYLOAD and %s", got, meta, obj.SHA256)
	}
}
