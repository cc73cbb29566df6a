//! Reading a server's RootDSE: vendor detection and control names (pure).

use app::model::Vendor;
use std::collections::HashMap;

pub const ROOT_DSE_ATTRS: &[&str] = &[
    "*",
    "+",
    "vendorName",
    "vendorVersion",
    "namingContexts",
    "supportedControl",
    "supportedExtension",
    "structuralObjectClass",
    "objectClass",
    "rootDomainNamingContext",
    "forestFunctionality",
    "dsServiceName",
    "netscapemdsuffix",
];

fn get<'a>(attrs: &'a HashMap<String, Vec<String>>, name: &str) -> &'a [String] {
    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice()).unwrap_or(&[])
}

/// Guesses the directory product from RootDSE attributes.
pub fn detect_vendor(attrs: &HashMap<String, Vec<String>>) -> Vendor {
    let any = |name: &str, needle: &str| get(attrs, name).iter().any(|v| v.to_ascii_lowercase().contains(needle));
    if !get(attrs, "forestFunctionality").is_empty()
        || !get(attrs, "rootDomainNamingContext").is_empty()
        || any("supportedCapabilities", "1.2.840.113556.1.4.800")
    {
        Vendor::ActiveDirectory
    } else if any("structuralObjectClass", "openldaprootdse") || any("objectClass", "openldaprootdse") {
        Vendor::OpenLdap
    } else if any("vendorName", "389 project")
        || any("vendorName", "red hat")
        || any("vendorName", "fedora")
        || !get(attrs, "netscapemdsuffix").is_empty()
    {
        Vendor::Ds389
    } else {
        Vendor::Other
    }
}

pub fn first(attrs: &HashMap<String, Vec<String>>, name: &str) -> Option<String> {
    get(attrs, name).first().cloned()
}

pub fn all(attrs: &HashMap<String, Vec<String>>, name: &str) -> Vec<String> {
    get(attrs, name).to_vec()
}

/// "Name (OID)" for controls an admin will recognise, else the OID.
pub fn control_label(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113556.1.4.319" => "Paged results",
        "1.3.6.1.4.1.4203.1.9.1.1" => "Content synchronisation (syncrepl)",
        "1.2.840.113556.1.4.473" => "Server-side sort",
        "2.16.840.1.113730.3.4.9" => "Virtual list view",
        "2.16.840.1.113730.3.4.2" => "ManageDsaIT",
        "1.2.840.113556.1.4.841" => "AD DirSync",
        "1.2.840.113556.1.4.528" => "AD notification",
        "1.2.840.113556.1.4.417" => "AD show deleted",
        "1.3.6.1.1.12" => "Assertion",
        "1.3.6.1.1.13.1" => "Pre-read",
        "1.3.6.1.1.13.2" => "Post-read",
        "1.3.6.1.4.1.42.2.27.8.5.1" => "Password policy",
        "2.16.840.1.113730.3.4.18" => "Proxied authorization",
        "1.3.6.1.1.22" => "Don't use copy",
        "1.3.6.1.4.1.4203.666.5.12" => "Relax rules",
        "1.2.826.0.1.3344810.2.3" => "Matched values",
        _ => return oid.to_string(),
    };
    format!("{name} ({oid})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn detects_each_vendor() {
        assert_eq!(detect_vendor(&attrs(&[("structuralObjectClass", "OpenLDAProotDSE")])), Vendor::OpenLdap);
        assert_eq!(
            detect_vendor(&attrs(&[("forestFunctionality", "7"), ("vendorName", "Samba Team")])),
            Vendor::ActiveDirectory
        );
        assert_eq!(detect_vendor(&attrs(&[("vendorName", "389 Project")])), Vendor::Ds389);
        assert_eq!(detect_vendor(&attrs(&[("vendorName", "Unknown")])), Vendor::Other);
    }

    #[test]
    fn labels_known_controls() {
        assert_eq!(control_label("1.2.840.113556.1.4.319"), "Paged results (1.2.840.113556.1.4.319)");
        assert_eq!(control_label("1.2.3"), "1.2.3");
    }
}
