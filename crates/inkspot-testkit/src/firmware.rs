//! A TRMNL device client for the tests: it sends exactly what firmware
//! 1.8 sends, header by header in its order (see the TRMNL reference).

use serde_json::Value;

use crate::client;

/// A TRMNL as firmware 1.8.15 talks: `ID`, then the rest in its order.
pub struct Firmware {
    pub base: String,
    pub mac: String,
    pub model: &'static str,
    pub key: Option<String>,
    /// What it sends in `FW-Version`: `1.8.15` unless a test changes it.
    pub version: String,
    /// What it sends in `Update-Source`: `timer` unless a test changes it.
    pub wake: &'static str,
    pub client: reqwest::Client,
}

impl Firmware {
    pub fn new(base: &str, mac: &str, model: &'static str) -> Self {
        Self {
            base: base.to_string(),
            mac: mac.to_string(),
            model,
            key: None,
            version: "1.8.15".to_string(),
            wake: "timer",
            client: client(),
        }
    }

    pub async fn setup(&mut self) -> Value {
        let r = self
            .client
            .get(format!("{}/api/setup/", self.base))
            .header("ID", &self.mac)
            .header("Content-Type", "application/json")
            .header("FW-Version", &self.version)
            .header("Model", self.model)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "setup never answers other than 200");
        let body: Value = r.json().await.unwrap();
        if body["status"] == 200 {
            self.key = body["api_key"].as_str().map(str::to_string);
        }
        body
    }

    /// A display call, which must answer 200.
    pub async fn display(&self, battery: &str, extra: &[(&str, &str)]) -> Value {
        let (status, body) = self.display_raw(battery, extra).await;
        assert_eq!(status, 200, "display answers 200 unless rate limited");
        body
    }

    /// A display call: its status and JSON body.
    pub async fn display_raw(&self, battery: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .client
            .get(format!("{}/api/display", self.base))
            .header("ID", &self.mac)
            .header("Content-Type", "application/json")
            .header("Update-Source", self.wake)
            .header("Access-Token", self.key.clone().unwrap_or_default())
            .header("Refresh-Rate", "900")
            .header("Battery-Voltage", battery)
            .header("FW-Version", &self.version)
            .header("Model", self.model)
            .header("Image-Cached", "false")
            .header("Wake-Time", "1800")
            .header("RSSI", "-63")
            .header("Width", "800")
            .header("Height", "480");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_ne!(body["status"], 500, "status 500 wipes a device");
        assert_ne!(body["reset_firmware"], true, "so does reset_firmware");
        (status, body)
    }

    pub async fn image(&self, url: &str) -> reqwest::Response {
        self.client
            .get(url)
            .header("ID", &self.mac)
            .header("Access-Token", self.key.clone().unwrap_or_default())
            .header("Accept-Encoding", "identity")
            .send()
            .await
            .unwrap()
    }
}
