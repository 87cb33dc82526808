package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func apiErr(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "msg"},
		},
	}}
}

func TestClassify(t *testing.T) {
	s := &Store{cfg: Config{Endpoint: "http://127.0.0.1:1", Bucket: "bk"}}
	refused := &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}}}
	for _, c := range []struct {
		name      string
		err       error
		target    any
		permanent bool
		mention   []string
	}{
		{"no such key", apiErr(404, "NoSuchKey"), new(*NotFoundError), true, []string{"k1", `bucket "bk"`, "S3_ENDPOINT and S3_BUCKET"}},
		{"no such bucket", apiErr(404, "NoSuchBucket"), new(*BucketError), true, []string{`"bk"`, "--create-bucket", "make up"}},
		{"bad access key", apiErr(403, "InvalidAccessKeyId"), new(*AuthError), true, []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "InvalidAccessKeyId"}},
		{"bad signature", apiErr(403, "SignatureDoesNotMatch"), new(*AuthError), true, []string{"AWS_SECRET_ACCESS_KEY"}},
		{"refused", refused, new(*UnreachableError), false, []string{"http://127.0.0.1:1", "make up"}},
		{"server error", apiErr(500, "InternalError"), nil, false, []string{"k1"}},
		{"disk full", apiErr(507, "InsufficientStorage"), new(*FullError), true, []string{"k1", "S3 storage full at endpoint http://127.0.0.1:1", `bucket "bk"`, "free space"}},
		{"quota", apiErr(403, "QuotaExceeded"), new(*FullError), true, []string{"S3 storage full"}},
		{"canceled", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: context.Canceled}}, nil, false, []string{"k1", "canceled"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := s.classify("get", "k1", c.err)
			var ue *UnreachableError
			if c.target == nil && errors.As(err, &ue) {
				t.Fatalf("got %T %v", err, err)
			}
			if c.target != nil && !errors.As(err, c.target) {
				t.Fatalf("got %T %v", err, err)
			}
			if IsPermanent(err) != c.permanent {
				t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), c.permanent)
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not mention %q", err, m)
				}
			}
		})
	}
	if IsPermanent(fmt.Errorf("wrapped: %w", &IntegrityError{Key: "k"})) != true {
		t.Error("wrapped IntegrityError should be permanent")
	}
}
