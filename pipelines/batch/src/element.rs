//! The `sgpnrestore` properties of a batch (`--set PROPERTY=VALUE`): checked once, before any
//! file is opened, and summarised in the settings fingerprint of the resume journal.

use std::path::Path;

use anyhow::{Context, bail};
use gst::glib;
use gst::prelude::*;

use crate::inputs::mtime_ns;
use crate::preset::make;

/// Validated element properties (name, value as given), in the order given.
#[derive(Debug, Clone, Default)]
pub struct ElementSettings {
    values: Vec<(String, String)>,
}

/// Is `value` inside the range of a numeric property? (glib checks ranges only with a warning
/// when the property is set.)
fn in_range(pspec: &glib::ParamSpec, value: &glib::Value) -> bool {
    macro_rules! check {
        ($($spec:ty => $t:ty),*) => {$(
            if let Some(p) = pspec.downcast_ref::<$spec>() {
                return value.get::<$t>().is_ok_and(|v| (p.minimum()..=p.maximum()).contains(&v));
            }
        )*};
    }
    check!(glib::ParamSpecUInt => u32, glib::ParamSpecInt => i32, glib::ParamSpecFloat => f32,
        glib::ParamSpecDouble => f64, glib::ParamSpecUInt64 => u64, glib::ParamSpecInt64 => i64);
    true
}

impl ElementSettings {
    /// Parses `PROPERTY=VALUE` pairs against the element's own property specs: an unknown
    /// property, a value of the wrong type or out of range is an error that names it.
    pub fn parse(pairs: &[String]) -> anyhow::Result<ElementSettings> {
        let element = make("sgpnrestore", &[])?;
        let mut values = Vec::new();
        for pair in pairs {
            let (name, text) = pair
                .split_once('=')
                .with_context(|| format!("--set {pair:?}: expected PROPERTY=VALUE"))?;
            let Some(pspec) = element.find_property(name) else {
                let known: Vec<_> = element
                    .list_properties()
                    .iter()
                    .filter(|p| p.owner_type() == element.type_())
                    .map(|p| p.name().to_owned())
                    .collect();
                bail!(
                    "--set {pair:?}: sgpnrestore has no property {name:?} (it has {})",
                    known.join(", ")
                );
            };
            let value = glib::Value::deserialize_with_pspec(text, &pspec).map_err(|_| {
                anyhow::anyhow!(
                    "--set {pair:?}: {text:?} is not a valid {}",
                    pspec.value_type().name()
                )
            })?;
            if !in_range(&pspec, &value) {
                bail!(
                    "--set {pair:?}: {text:?} is out of range for {name} ({})",
                    pspec.blurb().unwrap_or("")
                );
            }
            values.push((name.to_owned(), text.to_owned()));
        }
        Ok(ElementSettings { values })
    }

    pub fn apply(&self, element: &gst::Element) {
        for (name, value) in &self.values {
            element.set_property_from_str(name, value);
        }
    }

    /// Starts the element once on a test frame, so that settings it cannot start with (a
    /// missing model, a device this machine lacks) stop the batch before the first file
    /// instead of failing every file alike.
    pub fn preflight(&self) -> anyhow::Result<()> {
        let pipeline = gst::Pipeline::new();
        let src = make("videotestsrc", &[("num-buffers", "1")])?;
        let restore = make("sgpnrestore", &[])?;
        self.apply(&restore);
        let sink = make("fakesink", &[])?;
        pipeline.add_many([&src, &restore, &sink])?;
        gst::Element::link_many([&src, &restore, &sink])?;
        let _ = pipeline.set_state(gst::State::Playing);
        let bus = pipeline.bus().context("pipeline without a bus")?;
        let message = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = pipeline.set_state(gst::State::Null);
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => Ok(()),
            Some(gst::MessageView::Error(e)) => bail!(
                "sgpnrestore cannot start with these settings: {}",
                e.error()
            ),
            _ => bail!("sgpnrestore did not process a test frame within 120 s"),
        }
    }

    /// `PROPERTY=VALUE` as given, for the report.
    pub fn pairs(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }

    /// Every property of an element configured with these settings, defaults included, with the
    /// size and modification time of each model file it names: a change of model or setting
    /// gives another fingerprint, and the journal restores the inputs again.
    pub fn fingerprint(&self) -> anyhow::Result<String> {
        let element = make("sgpnrestore", &[])?;
        self.apply(&element);
        let mut parts = Vec::new();
        for pspec in element.list_properties() {
            if pspec.owner_type() != element.type_()
                || !pspec.flags().contains(glib::ParamFlags::READABLE)
            {
                continue;
            }
            let value = element.property_value(pspec.name());
            let text = value.serialize().map(|s| s.to_string()).unwrap_or_default();
            let file = Path::new(&text);
            let stamp = std::fs::metadata(file)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| format!(" ({} bytes, mtime {})", m.len(), mtime_ns(&m)));
            parts.push(format!(
                "{}={text}{}",
                pspec.name(),
                stamp.unwrap_or_default()
            ));
        }
        Ok(parts.join("; "))
    }
}
