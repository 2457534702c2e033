// Reads an .ics file with ical.js (the parser inside Thunderbird) and prints
// what a client would show, as JSON, for tests/feeds to compare.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2] ?? 0, "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));
for (const zone of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(zone);
}
const events = calendar.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  const alarms = component.getAllSubcomponents("valarm").map((alarm) => ({
    action: alarm.getFirstPropertyValue("action"),
    trigger: alarm.getFirstPropertyValue("trigger").toString(),
  }));
  const end = component.hasProperty("dtend") ? event.endDate : null;
  return {
    uid: event.uid,
    summary: event.summary,
    description: event.description,
    status: component.getFirstPropertyValue("status"),
    sequence: event.sequence,
    all_day: event.startDate.isDate,
    start: event.startDate.toUnixTime(),
    start_text: event.startDate.toString(),
    end: end ? end.toUnixTime() : null,
    end_text: end ? end.toString() : null,
    tzid: event.startDate.isDate ? null : (event.startDate.zone?.tzid ?? null),
    categories: component.getAllProperties("categories").flatMap((p) => p.getValues()),
    url: component.getFirstPropertyValue("url"),
    alarms,
  };
});
process.stdout.write(
  JSON.stringify({
    name: calendar.getFirstPropertyValue("name"),
    calname: calendar.getFirstPropertyValue("x-wr-calname"),
    refresh: String(calendar.getFirstPropertyValue("refresh-interval")),
    timezones: calendar.getAllSubcomponents("vtimezone").map((z) => z.getFirstPropertyValue("tzid")),
    events,
  }),
);
