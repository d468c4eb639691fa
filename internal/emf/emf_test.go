package emf

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	at := time.UnixMilli(1764244800000)
	err := Write(&buf, at, map[string]string{"function": "probe", "location": "home"}, []Metric{
		{Name: "ChecksDone", Unit: "Count", Value: 12},
		{Name: "LatenessP99", Unit: "Milliseconds", Value: 3.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function    string  `json:"function"`
		Location    string  `json:"location"`
		ChecksDone  float64 `json:"ChecksDone"`
		LatenessP99 float64 `json:"LatenessP99"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	cw := got.AWS.CloudWatchMetrics
	if got.AWS.Timestamp != 1764244800000 || len(cw) != 1 || cw[0].Namespace != "Watcher" || len(cw[0].Dimensions[0]) != 2 ||
		len(cw[0].Metrics) != 2 || got.Function != "probe" || got.Location != "home" || got.ChecksDone != 12 || got.LatenessP99 != 3.5 {
		t.Errorf("line %s", buf.Bytes())
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Error("want exactly one line")
	}
}
