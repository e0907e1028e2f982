"""The operations console: the message flows, traces, decisions and labels, for
operators, privacy officers and partners, each seeing only what their role allows."""
