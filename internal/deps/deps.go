package main
import (
 _ "github.com/expr-lang/expr"
 _ "go.etcd.io/bbolt"
 _ "github.com/go-resty/resty/v2"
 _ "github.com/google/uuid"
 _ "golang.org/x/crypto/argon2"
 _ "golang.org/x/crypto/chacha20poly1305"
 _ "golang.org/x/term"
 _ "golang.org/x/sys/unix"
 _ "github.com/goccy/go-yaml"
 _ "github.com/spf13/cobra"
)
func main(){}
