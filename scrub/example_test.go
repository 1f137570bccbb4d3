package scrub_test

import (
	"encoding/base64"
	"fmt"
	"os"

	"github.com/bprun/bp/scrub"
)

// A scrubber masks each secret it knows, and the encodings of it that a
// program may print (here base64), in text it is given whole.
func ExampleScrubber_String() {
	s := scrub.New()
	s.Add("s3cr3t-token")
	fmt.Println(s.String("token=s3cr3t-token"))
	fmt.Println(s.String("basic " + base64.StdEncoding.EncodeToString([]byte("s3cr3t-token"))))
	// Output:
	// token=***
	// basic ***
}

// A Writer masks a stream, however it is cut into writes: a secret split
// across two writes is masked too. Close writes what it held back.
func ExampleScrubber_NewWriter() {
	s := scrub.New()
	s.Add("s3cr3t-token")
	w := s.NewWriter(os.Stdout)
	fmt.Fprint(w, "the key is s3cr")
	fmt.Fprint(w, "3t-token, keep it\n")
	w.Close()
	// Output:
	// the key is ***, keep it
}
