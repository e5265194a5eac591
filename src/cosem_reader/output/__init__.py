"""Output: JSON, Gurux-style XML, MQTT and Home Assistant discovery."""
