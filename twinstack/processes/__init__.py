"""The parts of a cloud as processes of their own: host agents, conductors and API workers on one database and
one RabbitMQ (issue 9's "scale out"). ``twinstack serve`` alone still runs everything in one process."""
