"""The HTTP API on Faust's web server: views over the tables and the reservation service,
owner lookup and forwarding between workers."""
