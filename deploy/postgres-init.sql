-- Run once by the postgres container on an empty volume: Prefect's own database beside Django's.
CREATE DATABASE prefect OWNER gcf;
