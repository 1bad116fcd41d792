"use strict";
// The time of day both pages show (the wallboard's clock, the staffing page's "as of"): in the
// floor's zone, 24-hour, whatever the browser's own zone and locale. Loaded before each page's
// own script (served at /clock.js).

// "HH:MM:SS" of the instant `ms` (milliseconds since the epoch) in the IANA zone `zone`; in UTC
// when the browser does not know the zone.
function timeOfDay(ms, zone) {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }).format(new Date(ms));
  } catch (e) {
    return new Date(ms).toISOString().slice(11, 19);
  }
}
