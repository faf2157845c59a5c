"""An SMTP server for the notification tests: aiosmtpd on 127.0.0.1:PORT, writing every
message it accepts to DIR/<n>.eml. Usage: smtp_sink.py PORT DIR"""

import pathlib
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        target = self.directory / f"{self.count:04}.eml"
        partial = target.with_suffix(".part")
        partial.write_bytes(envelope.original_content)
        partial.rename(target)
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
